using Microsoft.ML.Circuits.Semirings;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Queries;

/// <summary>
/// The top-down half of sampling and MAP: walks the plan from the root to the pixels over the address book of an
/// upward pass (<see cref="CircuitEvaluation"/>), letting every chosen unit choose its inputs (<see
/// cref="Layers.InnerLayer.ChooseInputs"/>), and finally the pixel values. The whole batch walks at once: per layer a
/// (F, B) int64 tensor holds the chosen unit + 1 of each fold and image, 0 where the fold is not in the image's induced
/// tree. A region is reached at most once per image (the scopes of an induced tree's leaves are disjoint), so the
/// choices written into a source by different consumers never collide and are merged by addition.
/// </summary>
internal static class TopDown
{
    /// <summary>
    /// Runs the pass. <paramref name="evaluation"/> may have batch 1 (unconditional: the log Z pass, shared by every
    /// image) or <paramref name="batch"/>. Returns the chosen values (B, D, C), int64.
    /// </summary>
    public static Tensor Run(TensorizedCircuit circuit, CircuitEvaluation evaluation, long batch, Semiring semiring, UnitChooser chooser)
    {
        using var scope = NewDisposeScope();
        var device = circuit.Device;
        var layers = circuit.Layers;
        var outputs = evaluation.Outputs;
        var chosen = new Tensor?[layers.Count + 1];
        chosen[^1] = torch.ones([1, batch], ScalarType.Int64, device);
        for (int l = layers.Count; l >= 1; l--)
        {
            var selected = chosen[l];
            if (selected is null) continue;
            var layer = layers[l - 1];
            var spec = layer.Spec;
            var x = layer.GatherInputs([.. spec.Sources.Select(s => outputs[s])]);
            if (x.shape[2] != batch) x = x.expand(spec.Folds, spec.Arity, batch, spec.InputUnits);
            var unit = selected.sub(TensorArithmetic.OneInt64).clamp_min_(TensorArithmetic.ZeroInt64);
            var choice = layer.ChooseInputs(x, unit, semiring, chooser);
            var encoded = choice.add_(TensorArithmetic.OneInt64, TensorArithmetic.OneInt64).mul_(selected.gt(TensorArithmetic.ZeroInt64).unsqueeze(1));
            var concatenated = torch.zeros([spec.Plan.PaddingIndex + 1L, batch], ScalarType.Int64, device)
                .IndexAddInPlace(0, layer.GatherIndex, encoded.view((long)spec.Folds * spec.Arity, batch));
            long offset = 0;
            for (int s = 0; s < spec.Sources.Length; s++)
            {
                int source = spec.Sources[s], folds = spec.Plan.SourceFolds[s];
                var part = concatenated.narrow(0, offset, folds);
                chosen[source] = chosen[source] is { } existing ? existing.Plus(part) : part;
                offset += folds;
            }
        }
        var rows = circuit.InputRowsOf(chosen[0] ?? throw new InvalidOperationException("The top-down pass reached no input region."));
        return circuit.Input.ChooseValues(rows, chooser).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Completes <paramref name="x"/> (B, D, C) at the pixels marked in <paramref name="missing"/> (B, D): an upward pass
    /// with the evidence over <paramref name="semiring"/>, the top-down pass, observed pixels kept. Checked by the caller.
    /// </summary>
    public static Tensor Complete(TensorizedCircuit circuit, Tensor x, Tensor missing, Semiring semiring, UnitChooser chooser)
    {
        using var _ = torch.no_grad();
        using var scope = NewDisposeScope();
        var inputs = circuit.Input.Forward(x, missing, semiring);
        var evaluation = circuit.Evaluate(inputs, semiring);
        var values = Run(circuit, evaluation, x.shape[0], semiring, chooser);
        return torch.where(missing.unsqueeze(2), values, x).MoveToOuterDisposeScope();
    }
}
