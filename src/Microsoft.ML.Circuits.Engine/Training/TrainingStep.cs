using Microsoft.ML.Circuits.Kernels;
using Microsoft.ML.Circuits.Queries;
using Microsoft.ML.Circuits.Semirings;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Training;

/// <summary>
/// One optimisation step exactly as training runs it, shared by <see cref="Trainer"/> and the <c>bench</c> command:
/// loss −Σ log p(x) of a batch whose values were validated with its dataset, backward, then a single host
/// synchronisation that reads the loss together with the sum of every gradient and every weight; only if all are
/// finite does Adam step (at the given learning rate) and the clamp projection run. Weights are checked as they enter
/// the step, so non-finite weights left by a step are caught by the next one (or by the validation pass that follows
/// the last step of an epoch). Adam is <see cref="FusedAdam"/> (one native pass per parameter) where the circuit's
/// kernel preference runs native kernels on its device and the library loaded, TorchSharp's otherwise; either way
/// the gradients are dropped before each backward pass rather than zero-filled and added to.
/// </summary>
internal sealed class TrainingStep : IDisposable
{
    readonly TensorizedCircuit circuit;
    readonly List<(string Name, Parameter Parameter)> named;

    public TrainingStep(TensorizedCircuit circuit, TrainerOptions options, Semiring? semiring = null)
    {
        this.circuit = circuit;
        Semiring = Semiring.RequireSumProduct(semiring ?? Semiring.SumProductFor(circuit), nameof(semiring));
        var inputParameters = circuit.Input.parameters().ToList();
        var innerParameters = circuit.Layers.SelectMany(l => l.parameters()).ToList();
        named = circuit.named_parameters().ToList();
        if (LayerKernels.SelectOptimizer(circuit.Device, circuit.KernelPreference) && named.All(p => FusedAdam.Serves(p.Parameter)))
        {
            fused = new FusedAdam([(inputParameters, 0.0), (innerParameters, options.WeightDecay)]);
            return;
        }
        var groups = new List<Adam.ParamGroup> { new(inputParameters, options.LearningRate, 0.9, 0.999, 1e-8, 0, false, false) };
        if (innerParameters.Count > 0)
            groups.Add(new Adam.ParamGroup(innerParameters, options.LearningRate, 0.9, 0.999, 1e-8, options.WeightDecay, false, false));
        managed = torch.optim.Adam(groups, options.LearningRate);
    }

    readonly FusedAdam? fused;
    readonly Adam? managed;

    /// <summary>Which Adam updates the weights: "native" (<see cref="FusedAdam"/>) or "managed" (TorchSharp's).</summary>
    public string OptimizerName => fused is null ? "managed" : "native";

    /// <summary>The sum-product semiring the loss is computed over.</summary>
    public Semiring Semiring { get; }

    /// <summary>Blocking device-to-host reads made so far (one per step).</summary>
    public long HostSyncs { get; private set; }

    /// <summary>
    /// Runs one step on <paramref name="x"/> (B, D, C) at <paramref name="learningRate"/>. Returns the summed negative
    /// log-likelihood of the batch and null, or — when the loss, a gradient or a weight is not finite — the loss and
    /// what was not finite; then nothing was updated.
    /// </summary>
    public (double Loss, string? NonFinite) Run(Tensor x, double learningRate)
    {
        using var scope = NewDisposeScope();
        // Dropped, not zero-filled: autograd then stores each gradient as it arrives instead of adding it into zeros.
        foreach (var (_, p) in named) p.grad = null;
        var loss = -LogLikelihoodQuery.EvaluateUnchecked(circuit, x, Semiring).sum();
        loss.backward();
        // A native kernel's backward pass that failed (out of memory) passed no gradients on: stop before any update.
        NativeAutograd.ThrowPendingFailure();

        // One value per tensor whose finiteness stands for the tensor's: its sum, which is NaN or ±∞ exactly when an
        // element is (or when the total overflows float32, which is as much a divergence). A sum is one pass without
        // temporaries, where isfinite().all() allocates and walks several full-size masks.
        var sums = new List<Tensor>(2 * named.Count + 1) { loss.detach().reshape(1) };
        foreach (var (_, p) in named)
            sums.Add(p.grad is null ? torch.zeros(1, device: p.device) : p.grad.sum().reshape(1));
        foreach (var (_, p) in named)
            sums.Add(p.detach().sum().reshape(1));
        var status = torch.cat(sums).to(ScalarType.Float64).cpu().data<double>().ToArray();
        HostSyncs++;

        double lossValue = status[0];
        string? bad = null;
        if (!double.IsFinite(lossValue)) bad = "the loss";
        for (int i = 0; bad is null && i < named.Count; i++)
            if (!double.IsFinite(status[1 + i])) bad = $"the gradient of {named[i].Name}";
        for (int i = 0; bad is null && i < named.Count; i++)
            if (!double.IsFinite(status[1 + named.Count + i])) bad = $"the weight {named[i].Name}";
        if (bad is not null) return (lossValue, bad);

        if (fused is not null) fused.Step(learningRate);
        else
        {
            foreach (var group in managed!.ParamGroups) group.LearningRate = learningRate;
            managed.step();
        }
        circuit.ProjectParameters();
        return (lossValue, null);
    }

    public void Dispose()
    {
        fused?.Dispose();
        managed?.Dispose();
    }
}
