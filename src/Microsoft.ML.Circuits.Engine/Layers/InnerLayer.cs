using Microsoft.ML.Circuits.Semirings;
using Microsoft.ML.Circuits.Structure;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Layers;

/// <summary>
/// A folded inner layer built from a <see cref="LayerSpec"/>. It receives the outputs of its source layers, gathers
/// its (F, H, B, K_in) input from them with its gather index (padding slots read a row of zeros, which the layer
/// leaves out), and contracts that input to (F, B, K_out) values through a <see cref="Semiring"/> (log-values, or the
/// semiring's own representation, whose last dimension may be wider than K). Which kernel runs the three steps is chosen by
/// <see cref="Kernels.LayerKernels"/>; <see cref="Contract"/> is the managed reference.
/// </summary>
public abstract class InnerLayer : nn.Module<Tensor, Tensor>
{
    readonly List<Parameter> clamped = [];
    readonly Tensor gather;
    Kernels.ILayerKernel kernel;

    private protected InnerLayer(string name, LayerSpec spec, Reparameterization reparameterization, Device device) : base(name)
    {
        Spec = spec;
        Reparameterization = reparameterization;
        gather = torch.tensor(spec.Gather.Select(i => (long)i).ToArray(), device: device);
        register_buffer("gather", gather, persistent: false);
        if (spec.IsPadded)
        {
            Mask = torch.tensor(spec.Mask.ToArray(), device: device).view(Folds, Arity);
            register_buffer("mask", Mask, persistent: false);
        }
        kernel = Kernels.LayerKernels.Select(spec.Kind, device, Kernels.LayerKernels.DefaultPreference);
    }

    /// <summary>Every parameter and buffer is registered explicitly (non-persistent buffers stay out of the state).</summary>
    protected override void RegisterComponents() { }

    /// <summary>The backend-neutral description of this layer.</summary>
    public LayerSpec Spec { get; }

    /// <summary>The folded layer of the plan this module computes.</summary>
    public FoldedLayerPlan Plan => Spec.Plan;

    /// <summary>How the raw parameters become weights.</summary>
    public Reparameterization Reparameterization { get; }

    /// <summary>F.</summary>
    public int Folds => Spec.Folds;

    /// <summary>H.</summary>
    public int Arity => Spec.Arity;

    /// <summary>K_in.</summary>
    public int InputUnits => Spec.InputUnits;

    /// <summary>K_out.</summary>
    public int OutputUnits => Spec.OutputUnits;

    /// <summary>The name of the kernel that computes this layer (<c>managed</c> unless a native kernel serves it).</summary>
    public string KernelName => kernel.Name;

    /// <summary>The kernel that computes this layer.</summary>
    internal Kernels.ILayerKernel Kernel => kernel;

    /// <summary>
    /// The name of the kernel that computes this layer's passes over <paramref name="semiring"/>: a native kernel hands
    /// the paths it does not compute (and <see cref="Semiring.Scoring"/> under Auto) to the managed one.
    /// </summary>
    internal string KernelNameFor(Semiring semiring) =>
        kernel is Kernels.NativeLayerKernel native && native.Computes(this, semiring) ? kernel.Name : Kernels.ManagedLayerKernel.Instance.Name;

    /// <summary>Chooses this layer's kernel for <paramref name="preference"/> (<see cref="TensorizedCircuit.KernelPreference"/>).</summary>
    internal void SelectKernel(LayerKernelPreference preference, Device device) =>
        kernel = Kernels.LayerKernels.Select(Spec.Kind, device, preference);

    /// <summary>The gather index (F·H, int64) on the layer's device: slot → row of the concatenated sources.</summary>
    internal Tensor GatherIndex => gather;

    /// <summary>(F, H) booleans, true at real inputs; null when no fold is padded.</summary>
    private protected Tensor? Mask { get; }

    /// <summary><see cref="Mask"/> for the kernels: (F, H) booleans (one byte each), true at real inputs; null when no fold is padded.</summary>
    internal Tensor? PaddingMask => Mask;

    /// <summary>Registers a trainable parameter (subject to the clamp projection) and returns it.</summary>
    private protected Parameter AddParameter(string name, Tensor initial, Device device, bool clamp = true)
    {
        var parameter = Parameterization.ToParameter(initial, device);
        register_parameter(name, parameter);
        if (clamp) clamped.Add(parameter);
        return parameter;
    }

    /// <summary>Applies the clamp projection to every parameter of the layer (no-op for exp and softmax).</summary>
    public virtual void ProjectParameters()
    {
        foreach (var p in clamped) Parameterization.Project(p, Reparameterization);
    }

    /// <summary>
    /// The layer's output (F, B, K_out) from the outputs of its sources (each (F_s, B, K_in), in the order of
    /// <see cref="LayerSpec.Sources"/>): gather, contraction and product over the slots, by the selected kernel. Sources
    /// and output are in <paramref name="semiring"/>'s representation (log-values, or for
    /// <see cref="Semiring.ScaledLinear"/> one more column, the log-scale).
    /// </summary>
    public Tensor Forward(IReadOnlyList<Tensor> sources, Semiring semiring)
    {
        ArgumentNullException.ThrowIfNull(sources);
        ArgumentNullException.ThrowIfNull(semiring);
        if (sources.Count != Spec.Sources.Length)
            throw new ArgumentException($"Layer {Spec.Index} reads {Spec.Sources.Length} sources, got {sources.Count}.", nameof(sources));
        // The native kernels read the sources' memory by address: a source of another shape must fail here, not there.
        long width = semiring.Width(InputUnits), batch = -1;
        for (int s = 0; s < sources.Count; s++)
        {
            var shape = (sources[s] ?? throw new ArgumentNullException(nameof(sources), $"Layer {Spec.Index}: source {s} is null.")).shape;
            long rows = Spec.Plan.SourceFolds[s];
            if (s == 0 && shape.Length == 3) batch = shape[1];
            if (shape.Length != 3 || shape[0] != rows || shape[1] != batch || shape[2] != width)
                throw new ArgumentException(
                    $"Layer {Spec.Index} expects source {s} as ({rows}, B, {width}) over {semiring} with the same B for every source, got ({string.Join(", ", shape)}).",
                    nameof(sources));
        }
        return kernel.Forward(this, sources, semiring);
    }

    /// <summary>
    /// Gathers the (F, H, B, K_in) input from the sources' outputs: concatenated in order, followed by one row of
    /// zeros (log 1 for log-values) when some fold is padded, indexed by the layer's gather index. The last dimension is
    /// the sources' (K_in, or wider in a semiring's own representation).
    /// </summary>
    public Tensor GatherInputs(IReadOnlyList<Tensor> sources)
    {
        ArgumentNullException.ThrowIfNull(sources);
        using var scope = NewDisposeScope();
        long batch = sources[0].shape[1];
        var parts = sources.ToList();
        if (Spec.IsPadded)
            parts.Add(torch.zeros([1, batch, sources[0].shape[2]], sources[0].dtype, sources[0].device));
        var concatenated = parts.Count == 1 ? parts[0] : torch.cat(parts, 0);
        return concatenated.index_select(0, gather).view(Folds, Arity, batch, sources[0].shape[2]).MoveToOuterDisposeScope();
    }

    /// <summary>The contraction of a gathered input <paramref name="x"/> (F, H, B, K_in) to (F, B, K_out) over <paramref name="semiring"/>.</summary>
    public abstract Tensor Contract(Tensor x, Semiring semiring);

    /// <summary>The log-sum-exp contraction of a gathered input (F, H, B, K_in): <see cref="Contract"/> with <see cref="Semiring.LogSumExp"/>.</summary>
    public override Tensor forward(Tensor x) => Contract(x, Semiring.LogSumExp);

    /// <summary>
    /// The padded slots for <see cref="Semiring.MatMulProduct"/>: (F, H, 1, 1) booleans when the slots are dimension 1
    /// of the per-slot results, (H, F, 1, 1) when they are dimension 0; null when no fold is padded.
    /// </summary>
    private protected Tensor? PaddedSlots(int slotDim = 1)
    {
        if (Mask is null) return null;
        using var missing = Mask.logical_not();
        return slotDim == 1 ? missing.view(Folds, Arity, 1, 1) : missing.t().reshape(Arity, Folds, 1, 1);
    }

    /// <summary>Checks the shape of the gathered input (its last dimension: K_in in <paramref name="semiring"/>'s representation).</summary>
    private protected void CheckInput(Tensor x, Semiring semiring)
    {
        int width = semiring.Width(InputUnits);
        if (x.ndim != 4 || x.shape[0] != Folds || x.shape[1] != Arity || x.shape[3] != width)
            throw new ArgumentException($"Layer {Spec.Index} expects input (F={Folds}, H={Arity}, B, {width}) over {semiring}, got ({string.Join(", ", x.shape)}).", nameof(x));
    }

    /// <summary>
    /// One step of a top-down pass (sampling, conditional sampling, MAP backtracking): for each fold f and image b whose
    /// output unit <paramref name="unit"/>[f, b] was chosen, chooses the input unit of every slot it uses, in proportion
    /// to (or, with an argmax chooser, maximising) weight × exp(the input's upward value in <paramref name="x"/>).
    /// </summary>
    /// <param name="x">The gathered upward values (F, H, B, K_in) of the pass the choice conditions on.</param>
    /// <param name="unit">(F, B) int64: the chosen output unit (any valid unit where the fold was not chosen).</param>
    /// <param name="semiring">The semiring of the upward pass (for values a layer recomputes inside itself).</param>
    /// <param name="chooser">Gumbel-max or argmax.</param>
    /// <returns>(F, H, B) int64: the chosen unit of each slot's input, −1 where the slot is not used (padding, or a
    /// partition a mixing unit did not choose).</returns>
    internal abstract Tensor ChooseInputs(Tensor x, Tensor unit, Semiring semiring, Queries.UnitChooser chooser);

    /// <summary>
    /// The CP choice: each slot h picks i ∝ W[f,h,i,o]·exp(x[f,h,b,i]) independently, with <paramref name="logWeight"/>
    /// (F, H, K_in, K_out) log-weights (a view expanded over folds for shared weights).
    /// </summary>
    private protected Tensor ChooseEachSlot(Tensor x, Tensor logWeight, Tensor unit, Queries.UnitChooser chooser)
    {
        using var scope = NewDisposeScope();
        long batch = x.shape[2];
        var index = unit.view(Folds, 1, 1, batch).expand(Folds, Arity, InputUnits, batch);
        var weights = logWeight.gather(3, index).permute(0, 1, 3, 2);
        return WithoutPadding(chooser.Pick(weights.Plus(x), 3)).MoveToOuterDisposeScope();
    }

    /// <summary>Sets the choices (F, H, B) of padded slots to −1.</summary>
    private protected Tensor WithoutPadding(Tensor choice)
    {
        if (Mask is null) return choice;
        using var padded = Mask.logical_not().view(Folds, Arity, 1);
        return choice.masked_fill(padded, TensorArithmetic.MinusOneInt64);
    }

    /// <summary>The initial θ of parameter <paramref name="name"/>: weights uniform in [low, high).</summary>
    private protected Tensor InitialUniform(string name, Generator generator, double low = 0.01, double high = 0.99) =>
        Parameterization.InitialUniform([.. Spec.Parameter(name).Shape], Reparameterization, generator, low, high);
}
