using Microsoft.ML.Circuits.Layers;
using Microsoft.ML.Circuits.Queries;
using Microsoft.ML.Circuits.Semirings;
using Microsoft.ML.Circuits.Structure;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits;

/// <summary>
/// A tensorized probabilistic circuit: a categorical input layer and folded inner layers, built from the layer specs
/// of a <see cref="CircuitPlan"/>, all in log space. One plan walker (<see cref="Evaluate"/>) runs the layers in order
/// over a <see cref="Semiring"/>; the queries in <see cref="Queries"/> are built on it. The convenience methods here
/// answer the common ones: exact, normalised log-likelihoods (<see cref="LogLikelihood"/> = log c(x) − log Z), the
/// exact partition function (<see cref="LogPartition"/>) and exact marginals (<see cref="MarginalLogLikelihood"/>).
/// </summary>
/// <remarks>
/// Data: a batch is an int64 tensor (B, D, C) of values in 0..Categories−1, variables (pixels) in row-major order and
/// the channels of a pixel in the last dimension. The circuit lives on the device it was created on.
/// </remarks>
public sealed class TensorizedCircuit : nn.Module<Tensor, Tensor>
{
    readonly List<InnerLayer> layers = [];
    readonly Tensor? inputRegionGather;
    readonly int inputRegionArity;
    long parameterVersion;

    /// <summary>Builds a circuit with fresh parameters.</summary>
    /// <param name="description">What to build; validated.</param>
    /// <param name="seed">Seed of the parameter initialisation.</param>
    /// <param name="device">Where parameters live; CPU when null.</param>
    public TensorizedCircuit(CircuitDescription description, long seed = 42, Device? device = null)
        : this(description, CircuitPlanner.Build(description), seed, device, planIsFromDescription: true) { }

    /// <summary>Builds a circuit for an existing plan of <paramref name="description"/>.</summary>
    /// <exception cref="ArgumentException">The plan was built from another region graph or other unit counts.</exception>
    public TensorizedCircuit(CircuitDescription description, CircuitPlan plan, long seed = 42, Device? device = null)
        : this(description, plan, seed, device, planIsFromDescription: false) { }

    TensorizedCircuit(CircuitDescription description, CircuitPlan plan, long seed, Device? device, bool planIsFromDescription) : base(nameof(TensorizedCircuit))
    {
        ArgumentNullException.ThrowIfNull(description);
        ArgumentNullException.ThrowIfNull(plan);
        Description = description.Validate();
        if (!planIsFromDescription &&
            plan.Fingerprint != CircuitPlan.FingerprintOf(description.BuildRegionGraph(), description.Units, description.EffectiveInputUnits))
            throw new ArgumentException(
                $"The plan (D={plan.Variables}, K={plan.Units}, K_in={plan.InputUnits}) was not built for {description}: " +
                "its region graph or unit counts differ. Build the plan with CircuitPlanner.Build(description).", nameof(plan));
        Plan = plan;
        Spec = CircuitSpec.Build(plan, description);
        Device = device ?? torch.CPU;
        ParameterCount = ParameterCount.Of(Spec);
        CircuitMemory.RequireWeightsFit(Description, ParameterCount, Device);

        using var generator = new Generator((ulong)seed, torch.CPU);
        Input = new CategoricalInputLayer(Spec.Input, generator, Device);
        register_module("input", Input);
        foreach (var spec in Spec.Layers)
        {
            var layer = LayerFactory.Create(spec, description.Reparameterization, generator, Device);
            register_module($"layer{spec.Index}", layer);
            layers.Add(layer);
        }

        // Input regions: a sum of rows of the input layer's output. Skipped when each region is one row, in order.
        int rows = plan.Variables * plan.Replicas;
        inputRegionArity = plan.InputRows.Max(r => r.Length);
        bool identity = inputRegionArity == 1 && plan.InputRows.Length == rows && plan.InputRows.Select((r, i) => r[0] == i).All(b => b);
        if (!identity)
        {
            var indices = plan.InputRows.SelectMany(r => r.Select(i => (long)i).Concat(Enumerable.Repeat((long)rows, inputRegionArity - r.Length))).ToArray();
            inputRegionGather = torch.tensor(indices, device: Device);
            register_buffer("input_regions", inputRegionGather, persistent: false);
        }
    }

    /// <summary>Every parameter and buffer is registered explicitly (non-persistent buffers stay out of the state).</summary>
    protected override void RegisterComponents() { }

    /// <summary>The description the circuit was built from.</summary>
    public CircuitDescription Description { get; }

    /// <summary>The folded structure the circuit runs.</summary>
    public CircuitPlan Plan { get; }

    /// <summary>The backend-neutral specs of every layer.</summary>
    public CircuitSpec Spec { get; }

    /// <summary>The device holding the parameters.</summary>
    public Device Device { get; }

    /// <summary>Parameter counts (the paper's count and the trainable count).</summary>
    public ParameterCount ParameterCount { get; }

    /// <summary>The categorical input layer.</summary>
    public CategoricalInputLayer Input { get; }

    /// <summary>The inner layers, in plan order.</summary>
    public IReadOnlyList<InnerLayer> Layers => layers;

    LayerKernelPreference kernelPreference = Kernels.LayerKernels.DefaultPreference;

    /// <summary>
    /// Which kernel computes the layers (default: the environment variable <c>CIRCUITS_KERNEL</c>, else
    /// <see cref="LayerKernelPreference.Auto"/>). Each layer's choice is <see cref="InnerLayer.KernelName"/>. Setting
    /// <see cref="LayerKernelPreference.Native"/> throws <see cref="NotSupportedException"/> with the reason when the
    /// native library is not available. Results agree to float32 rounding whichever kernel runs.
    /// </summary>
    public LayerKernelPreference KernelPreference
    {
        get => kernelPreference;
        set
        {
            if (!Enum.IsDefined(value))
                throw new ArgumentOutOfRangeException(nameof(value), value, "Expected Auto, Managed or Native.");
            foreach (var layer in layers) layer.SelectKernel(value, Device);
            Input.SelectKernel(value, Device);
            kernelPreference = value;
        }
    }

    /// <summary>Why the native kernels cannot run in this process, or null when they can.</summary>
    public static string? NativeKernelsUnavailable => Kernels.CircuitsNative.Unavailable;

    /// <summary>
    /// A counter that grows whenever the library changes the parameters (the projection after each training step,
    /// restoring a checkpoint, loading weights). Scorers that cache tables derived from the parameters (log Z, the
    /// input log-probabilities) recompute them when it changes. Code that changes parameters by other means calls
    /// <see cref="MarkParametersChanged"/>.
    /// </summary>
    public long ParameterVersion => Interlocked.Read(ref parameterVersion);

    /// <summary>Records that the parameters changed (see <see cref="ParameterVersion"/>).</summary>
    public void MarkParametersChanged() => Interlocked.Increment(ref parameterVersion);

    /// <summary>The normalised log-likelihood of each image of <paramref name="x"/> (B, D, C): shape (B).</summary>
    public override Tensor forward(Tensor x) => LogLikelihood(x);

    /// <summary>log c(x): the unnormalised log-value of the circuit for each image of <paramref name="x"/> (B, D, C), with
    /// pixels marked in <paramref name="missing"/> (B, D) summed out; shape (B).</summary>
    public Tensor LogCircuit(Tensor x, Tensor? missing = null) => new MarginalQuery(this).LogCircuit(x, missing);

    /// <summary>log Z, the log of the sum of c(x) over every image: the circuit with every input unit replaced by its integral (1). Shape (1).</summary>
    public Tensor LogPartition() => new PartitionQuery(this).Evaluate();

    /// <summary>log p(x) = log c(x) − log Z for each image of <paramref name="x"/> (B, D, C); shape (B).</summary>
    public Tensor LogLikelihood(Tensor x) => new LogLikelihoodQuery(this).Evaluate(x);

    /// <summary>
    /// The exact marginal log-likelihood log p(x_observed): pixels where <paramref name="missing"/> (B, D, bool) is
    /// true are summed out (all their channels). Shape (B).
    /// </summary>
    public Tensor MarginalLogLikelihood(Tensor x, Tensor missing)
    {
        ArgumentNullException.ThrowIfNull(missing);
        return new MarginalQuery(this).Evaluate(x, missing);
    }

    /// <summary>
    /// Writes the circuit as an ONNX model (opset 17, standard operators only): input <c>pixels</c> as
    /// <paramref name="options"/> describe (default float <c>[N, C, H, W]</c>, values 0..255), outputs
    /// <c>log_likelihood</c> (normalised, natural log) and <c>bits_per_dimension</c>, float <c>[N]</c>, N dynamic. The
    /// weights (after reparameterisation), the input log-probabilities and log Z are initialisers; the description is
    /// in the model's metadata (<c>circuit_description</c>).
    /// </summary>
    /// <param name="stream">Where the model is written.</param>
    /// <param name="options">The pixel input's type, shape and scale; null for the defaults.</param>
    public void ExportToOnnx(Stream stream, Onnx.OnnxExportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        Onnx.OnnxCircuitExporter.Export(this, stream, options ?? new Onnx.OnnxExportOptions());
    }

    /// <summary>Writes the circuit as an ONNX model file, atomically (see <see cref="ExportToOnnx(Stream, Onnx.OnnxExportOptions?)"/>).</summary>
    /// <param name="path">The file to write (<c>.onnx</c>); replaced if it exists.</param>
    /// <param name="options">The pixel input's type, shape and scale; null for the defaults.</param>
    public void ExportToOnnx(string path, Onnx.OnnxExportOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var resolved = options ?? new Onnx.OnnxExportOptions();
        resolved.Validate();
        AtomicFile.Write(path, stream => Onnx.OnnxCircuitExporter.Export(this, stream, resolved));
    }

    /// <summary>Applies the clamp projection to every inner layer (call after each optimiser step; no-op unless clamp).</summary>
    public void ProjectParameters()
    {
        foreach (var layer in layers) layer.ProjectParameters();
        MarkParametersChanged();
    }

    /// <summary>
    /// The plan walker: evaluates the input regions and then every inner layer in plan order over
    /// <paramref name="semiring"/>, handing each layer the outputs of its sources. Every output is kept in the returned
    /// evaluation (index 0: input regions, i ≥ 1: inner layer i − 1), so queries can read any layer. The input regions
    /// enter in the semiring's representation (log-values, or converted once for <see cref="Semiring.ScaledLinear"/>);
    /// the evaluation's <see cref="CircuitEvaluation.Root"/> is a log-value whichever semiring ran.
    /// </summary>
    /// <param name="inputs">The input layer's output, (D·P, B, K_in) log-values.</param>
    /// <param name="semiring">How sums are computed.</param>
    internal CircuitEvaluation Evaluate(Tensor inputs, Semiring semiring)
    {
        var regions = InputRegions(inputs);
        var first = Kernels.ToScaledFunction.Serves(this, regions, semiring) ? Kernels.ToScaledFunction.Apply(regions) : semiring.FromLogValues(regions);
        return EvaluateFrom(first, semiring);
    }

    /// <summary>
    /// <see cref="Evaluate"/> of the pixels <paramref name="x"/> (no missing values) where the input layer's native
    /// kernel hands the input regions over already in scaled-linear form (the layer, the regions' sums and the
    /// conversion fused, see <see cref="CategoricalInputLayer.ScaledForward"/>): a scaled-linear pass whose layers run
    /// natively. Null otherwise (then the input layer's output goes through <see cref="Evaluate"/>).
    /// </summary>
    internal CircuitEvaluation? EvaluateScaledPixels(Tensor x, Semiring semiring)
    {
        if (!FuseScaledInput || !Kernels.ToScaledFunction.Serves(this, Input.Logits, semiring)) return null;
        inputRegionMaps ??= new Kernels.InputRegionMaps([.. Plan.InputRows.Select(r => (IReadOnlyList<int>)r)], Plan.Variables * Plan.Replicas,
            identity: inputRegionGather is null);
        return Input.ScaledForward(x, inputRegionMaps) is { } first ? EvaluateFrom(first, semiring) : null;
    }

    Kernels.InputRegionMaps? inputRegionMaps;

    /// <summary>
    /// The input layer's <paramref name="logProbabilities"/> (D, 1, N, P, K) converted once into scaled-linear form
    /// (D, 1, N, P, K + 1), for scoring passes that read the table for many batches (<see cref="CircuitScorer"/>,
    /// <see cref="Training.Evaluation"/>): then a batch's input regions are a gather (<see cref="UpwardScaledTable"/>)
    /// with no exponential per image and pixel, and the same numbers as gathering log-values and converting them. For
    /// a scaled-linear pass on the native kernels over a single-channel layer whose input regions are its variables;
    /// null otherwise.
    /// </summary>
    internal Tensor? ScaledInputTable(Tensor logProbabilities, Semiring semiring)
    {
        if (inputRegionGather is not null || Input.Channels != 1 || !Input.GathersNatively
            || !Kernels.ToScaledFunction.Serves(this, logProbabilities, semiring))
            return null;
        using var _ = torch.no_grad();
        using var rows = logProbabilities.detach().reshape(-1, Input.Units);
        using var scaled = Kernels.ToScaledFunction.Apply(rows);
        return scaled.view(Input.Variables, 1, Input.Categories, Input.Replicas, Input.Units + 1);
    }

    /// <summary>
    /// log c(x) (B) of pixels <paramref name="x"/> (B, D, 1), none missing, over scaled-linear values, the input
    /// regions gathered from <paramref name="scaledTable"/> (<see cref="ScaledInputTable"/>).
    /// </summary>
    internal Tensor UpwardScaledTable(Tensor x, Tensor scaledTable)
    {
        using var scope = NewDisposeScope();
        var first = Kernels.NativeInputKernel.GatherScaled(Input, scaledTable, x);
        return EvaluateFrom(first, Semiring.ScaledLinear).Root.MoveToOuterDisposeScope();
    }

    /// <summary>Disposes the module's tensors and the fused input kernel's region maps.</summary>
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inputRegionMaps?.Dispose();
            inputRegionMaps = null;
        }
        base.Dispose(disposing);
    }

    /// <summary>
    /// Whether <see cref="EvaluateScaledPixels"/> may fuse the input layer and the conversion (default true); false runs
    /// them in steps — for tests and <c>bench --compare-variant fused-input</c>, which compare the two in one process.
    /// </summary>
    internal static bool FuseScaledInput { get; set; } = true;

    /// <summary>The plan walker from the input regions already in <paramref name="semiring"/>'s representation.</summary>
    CircuitEvaluation EvaluateFrom(Tensor first, Semiring semiring)
    {
        var outputs = new List<Tensor>(layers.Count + 1) { first };
        foreach (var layer in layers)
            outputs.Add(layer.Forward([.. layer.Spec.Sources.Select(s => outputs[s])], semiring));
        return new CircuitEvaluation(outputs, semiring);
    }

    Tensor InputRegions(Tensor inputs)
    {
        if (inputRegionGather is null) return inputs.alias();
        using var scope = NewDisposeScope();
        long batch = inputs.shape[1];
        var padded = torch.cat([inputs, torch.zeros([1, batch, Plan.InputUnits], inputs.dtype, inputs.device)], 0);
        var gathered = padded.index_select(0, inputRegionGather);
        return gathered.view(Plan.InputRows.Length, inputRegionArity, batch, Plan.InputUnits).sum(1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The transpose of <see cref="InputRegions"/> for integer choices: input regions (R, B) → the input layer's rows
    /// (D·P, B), each pixel row of a region receiving the region's value (the top-down pass: a region's unit k is unit
    /// k of each of its pixels).
    /// </summary>
    internal Tensor InputRowsOf(Tensor regions)
    {
        if (inputRegionGather is null) return regions.alias();
        using var scope = NewDisposeScope();
        long rows = (long)Plan.Variables * Plan.Replicas;
        var spread = regions.repeat_interleave(inputRegionArity, 0);
        var padded = torch.zeros([rows + 1, regions.shape[1]], regions.dtype, regions.device).IndexAddInPlace(0, inputRegionGather, spread);
        return padded.narrow(0, 0, rows).MoveToOuterDisposeScope();
    }

    static bool SameDevice(Device a, Device b) => a.type == b.type && Math.Max(a.index, 0) == Math.Max(b.index, 0);

    /// <summary>Checks shape, type and device of a batch (no host synchronisation).</summary>
    internal void CheckShape(Tensor x, Tensor? missing)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.dtype != ScalarType.Int64)
            throw new ArgumentException($"Pixel batches must be int64 tensors, got {x.dtype}.", nameof(x));
        if (x.ndim != 3 || x.shape[1] != Plan.Variables || x.shape[2] != Description.Channels)
            throw new ArgumentException(
                $"A batch must have shape (B, D={Plan.Variables}, C={Description.Channels}), got ({string.Join(", ", x.shape)}).", nameof(x));
        if (!SameDevice(x.device, Device))
            throw new ArgumentException($"The batch is on {x.device} but the circuit is on {Device}.", nameof(x));
        if (missing is not null)
        {
            if (missing.dtype != ScalarType.Bool || missing.ndim != 2 || missing.shape[0] != x.shape[0] || missing.shape[1] != Plan.Variables)
                throw new ArgumentException(
                    $"The missing mask must be a bool tensor of shape (B={x.shape[0]}, D={Plan.Variables}), got {missing.dtype} ({string.Join(", ", missing.shape)}).", nameof(missing));
            if (!SameDevice(missing.device, Device))
                throw new ArgumentException($"The missing mask is on {missing.device} but the circuit is on {Device}.", nameof(missing));
        }
    }

    /// <summary>Checks a batch completely: <see cref="CheckShape"/> and the range of its values (one host synchronisation).</summary>
    internal void CheckBatch(Tensor x, Tensor? missing)
    {
        CheckShape(x, missing);
        if (x.shape[0] == 0) return;
        using var range = torch.stack([x.min(), x.max()]).cpu();
        long min = range[0].item<long>(), max = range[1].item<long>();
        if (min < 0 || max >= Description.Categories)
            throw new ArgumentOutOfRangeException(nameof(x),
                $"Pixel values must lie in 0..{Description.Categories - 1} (Categories = {Description.Categories}); found {(min < 0 ? min : max)}.");
    }
}
