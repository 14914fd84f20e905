using Microsoft.ML.Circuits.Layers;
using Microsoft.ML.Circuits.Structure;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits;

/// <summary>
/// A tensorized probabilistic circuit: a categorical input layer and folded inner layers that run a
/// <see cref="CircuitPlan"/>, all in log space. It computes exact, normalised log-likelihoods
/// (<see cref="LogLikelihood"/> = log c(x) − log Z), the exact partition function (<see cref="LogPartition"/>) and
/// exact marginals (<see cref="MarginalLogLikelihood"/>).
/// </summary>
/// <remarks>
/// Data: a batch is an int64 tensor (B, D, C) of values in 0..Categories−1, variables (pixels) in row-major order and
/// the channels of a pixel in the last dimension. The circuit lives on the device it was created on.
/// </remarks>
public sealed class TensorizedCircuit : nn.Module<Tensor, Tensor>
{
    readonly List<InnerLayer> layers = [];
    readonly List<Tensor> gathers = [];
    readonly Tensor? inputRegionGather;
    readonly int inputRegionArity;

    /// <summary>Builds a circuit with fresh parameters.</summary>
    /// <param name="description">What to build; validated.</param>
    /// <param name="seed">Seed of the parameter initialisation.</param>
    /// <param name="device">Where parameters live; CPU when null.</param>
    public TensorizedCircuit(CircuitDescription description, long seed = 42, Device? device = null)
        : this(description, CircuitPlanner.Build(description), seed, device) { }

    /// <summary>Builds a circuit for an existing plan of <paramref name="description"/>.</summary>
    public TensorizedCircuit(CircuitDescription description, CircuitPlan plan, long seed = 42, Device? device = null) : base(nameof(TensorizedCircuit))
    {
        ArgumentNullException.ThrowIfNull(description);
        ArgumentNullException.ThrowIfNull(plan);
        Description = description.Validate();
        if (plan.Variables != description.Variables || plan.Units != description.Units || plan.InputUnits != description.EffectiveInputUnits)
            throw new ArgumentException(
                $"The plan (D={plan.Variables}, K={plan.Units}, K_in={plan.InputUnits}) was not built for {description}.", nameof(plan));
        Plan = plan;
        Device = device ?? torch.CPU;
        ParameterCount = ParameterCount.Of(plan, description);

        using var generator = new Generator((ulong)seed, torch.CPU);
        Input = new CategoricalInputLayer(plan.Variables, description.Channels, description.Categories, plan.Replicas,
            plan.InputUnits, generator, Device);
        register_module("input", Input);

        var lastMixing = plan.Layers.LastOrDefault(l => l.Role == FoldedLayerRole.Mixing);
        foreach (var layerPlan in plan.Layers)
        {
            InnerLayer layer = layerPlan.Role == FoldedLayerRole.Mixing
                ? new MixingLayer(layerPlan, ParameterCount.IsFrozen(description.FreezeMixing, layerPlan == lastMixing), description.Reparameterization, generator, Device)
                : description.Layer switch
                {
                    LayerKind.Tucker => new TuckerLayer(layerPlan, description.Reparameterization, generator, Device),
                    LayerKind.CP => new CpLayer(layerPlan, description.Reparameterization, generator, Device),
                    LayerKind.CPXS => new SharedCpLayer(layerPlan, description.Reparameterization, generator, Device),
                    LayerKind.CPS => new ScaledSharedCpLayer(layerPlan, description.Reparameterization, generator, Device),
                    LayerKind.UncollapsedCP => new UncollapsedCpLayer(layerPlan, description.Rank!.Value, description.Reparameterization, generator, Device),
                    _ => throw new ArgumentOutOfRangeException(nameof(description), description.Layer, "Unknown layer kind."),
                };
            register_module($"layer{layerPlan.Index}", layer);
            layers.Add(layer);
            var gather = torch.tensor(layerPlan.Gather.Select(i => (long)i).ToArray(), device: Device);
            register_buffer($"gather{layerPlan.Index}", gather, persistent: false);
            gathers.Add(gather);
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

    /// <summary>The device holding the parameters.</summary>
    public Device Device { get; }

    /// <summary>Parameter counts (the paper's count and the trainable count).</summary>
    public ParameterCount ParameterCount { get; }

    /// <summary>The categorical input layer.</summary>
    public CategoricalInputLayer Input { get; }

    /// <summary>The inner layers, in plan order.</summary>
    public IReadOnlyList<InnerLayer> Layers => layers;

    /// <summary>The normalised log-likelihood of each image of <paramref name="x"/> (B, D, C): shape (B).</summary>
    public override Tensor forward(Tensor x) => LogLikelihood(x);

    /// <summary>log c(x): the unnormalised log-value of the circuit for each image of <paramref name="x"/> (B, D, C); shape (B).</summary>
    public Tensor LogCircuit(Tensor x, Tensor? missing = null)
    {
        using var scope = NewDisposeScope();
        CheckBatch(x, missing);
        using var inputs = Input.Forward(x, missing);
        return Evaluate(InputRegions(inputs)).MoveToOuterDisposeScope();
    }

    /// <summary>log Z, the log of the sum of c(x) over every image: the circuit with every input unit replaced by its integral (1). Shape (1).</summary>
    public Tensor LogPartition()
    {
        using var scope = NewDisposeScope();
        var ones = torch.zeros([Plan.InputRows.Length, 1, Plan.InputUnits], ScalarType.Float32, Device);
        return Evaluate(ones).MoveToOuterDisposeScope();
    }

    /// <summary>log p(x) = log c(x) − log Z for each image of <paramref name="x"/> (B, D, C); shape (B).</summary>
    public Tensor LogLikelihood(Tensor x)
    {
        using var scope = NewDisposeScope();
        return (LogCircuit(x) - LogPartition()).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The exact marginal log-likelihood log p(x_observed): pixels where <paramref name="missing"/> (B, D, bool) is
    /// true are summed out (all their channels). Shape (B).
    /// </summary>
    public Tensor MarginalLogLikelihood(Tensor x, Tensor missing)
    {
        ArgumentNullException.ThrowIfNull(missing);
        using var scope = NewDisposeScope();
        return (LogCircuit(x, missing) - LogPartition()).MoveToOuterDisposeScope();
    }

    /// <summary>Applies the clamp projection to every inner layer (call after each optimiser step; no-op unless clamp).</summary>
    public void ProjectParameters()
    {
        foreach (var layer in layers) layer.ProjectParameters();
    }

    Tensor InputRegions(Tensor inputs)
    {
        if (inputRegionGather is null) return inputs.alias();
        long batch = inputs.shape[1];
        using var padded = torch.cat([inputs, torch.zeros([1, batch, Plan.InputUnits], inputs.dtype, inputs.device)], 0);
        using var gathered = padded.index_select(0, inputRegionGather);
        using var shaped = gathered.view(Plan.InputRows.Length, inputRegionArity, batch, Plan.InputUnits);
        return shaped.sum(1);
    }

    Tensor Evaluate(Tensor inputRegions)
    {
        long batch = inputRegions.shape[1];
        var outputs = new List<Tensor>(layers.Count + 1) { inputRegions };
        for (int i = 0; i < layers.Count; i++)
        {
            var plan = Plan.Layers[i];
            var parts = plan.Sources.Select(s => outputs[s]).ToList();
            if (plan.IsPadded)
                parts.Add(torch.zeros([1, batch, plan.InputUnits], ScalarType.Float32, Device));
            var concatenated = parts.Count == 1 ? parts[0] : torch.cat(parts, 0);
            var x = concatenated.index_select(0, gathers[i]).view(plan.Folds, plan.Arity, batch, plan.InputUnits);
            outputs.Add(layers[i].forward(x));
        }
        return outputs[^1].view(batch);
    }

    static bool SameDevice(Device a, Device b) => a.type == b.type && Math.Max(a.index, 0) == Math.Max(b.index, 0);

    void CheckBatch(Tensor x, Tensor? missing)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.dtype != ScalarType.Int64)
            throw new ArgumentException($"Pixel batches must be int64 tensors, got {x.dtype}.", nameof(x));
        if (x.ndim != 3 || x.shape[1] != Plan.Variables || x.shape[2] != Description.Channels)
            throw new ArgumentException(
                $"A batch must have shape (B, D={Plan.Variables}, C={Description.Channels}), got ({string.Join(", ", x.shape)}).", nameof(x));
        if (!SameDevice(x.device, Device))
            throw new ArgumentException($"The batch is on {x.device} but the circuit is on {Device}.", nameof(x));
        if (x.shape[0] > 0)
        {
            long min = x.min().item<long>(), max = x.max().item<long>();
            if (min < 0 || max >= Description.Categories)
                throw new ArgumentOutOfRangeException(nameof(x),
                    $"Pixel values must lie in 0..{Description.Categories - 1} (Categories = {Description.Categories}); found {(min < 0 ? min : max)}.");
        }
        if (missing is not null)
        {
            if (missing.dtype != ScalarType.Bool || missing.ndim != 2 || missing.shape[0] != x.shape[0] || missing.shape[1] != Plan.Variables)
                throw new ArgumentException(
                    $"The missing mask must be a bool tensor of shape (B={x.shape[0]}, D={Plan.Variables}), got {missing.dtype} ({string.Join(", ", missing.shape)}).", nameof(missing));
        }
    }
}
