using Microsoft.ML.Circuits.Semirings;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Queries;

/// <summary>
/// Exact sampling: unconditional samples x ~ p(x), and conditional samples of missing pixels x_m ~ p(x_m | x_o)
/// (inpainting). One upward pass (log Z's pass for unconditional samples, the marginal pass with the evidence for
/// conditional ones) and one top-down pass in which every chosen unit of a sum picks its inputs with probability
/// ∝ weight × exp(the input's upward value), by the Gumbel-max trick. The upward values correct for unnormalised
/// weights (clamp, exp), so the samples are exact for every reparameterisation. Seeded and reproducible for the same
/// circuit, device, seed and batch.
/// </summary>
public sealed class SamplingQuery : CircuitQuery
{
    /// <summary>Creates the query.</summary>
    public SamplingQuery(TensorizedCircuit circuit) : base(circuit) { }

    /// <summary>How many images one top-down pass draws at once (memory grows with it); 256 by default.</summary>
    public int BatchSize
    {
        get;
        init => field = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(BatchSize), value, "BatchSize must be at least 1.");
    } = 256;

    /// <summary>Draws <paramref name="count"/> images from p(x): shape (count, D, C), int64, on the circuit's device.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is not positive.</exception>
    public Tensor Sample(int count, long seed)
    {
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), count, "The number of samples must be at least 1.");
        using var _ = torch.no_grad();
        using var scope = NewDisposeScope();
        using var chooser = UnitChooser.Gumbel(seed, Circuit.Device);
        var inputs = Circuit.Input.Integral(Semiring.LogSumExp);
        var evaluation = Circuit.Evaluate(inputs, Semiring.LogSumExp);
        var parts = new List<Tensor>();
        for (int start = 0; start < count; start += BatchSize)
            parts.Add(TopDown.Run(Circuit, evaluation, Math.Min(BatchSize, count - start), Semiring.LogSumExp, chooser));
        return (parts.Count == 1 ? parts[0] : torch.cat(parts, 0)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Fills the pixels of <paramref name="x"/> (B, D, C) where <paramref name="missing"/> (B, D) is true with a draw
    /// from p(x_missing | x_observed); observed pixels are returned unchanged. Values at missing pixels are ignored
    /// but must be in range. Shape (B, D, C), int64.
    /// </summary>
    public Tensor SampleConditional(Tensor x, Tensor missing, long seed)
    {
        ArgumentNullException.ThrowIfNull(missing);
        Circuit.CheckBatch(x, missing);
        using var chooser = UnitChooser.Gumbel(seed, Circuit.Device);
        return TopDown.Complete(Circuit, x, missing, Semiring.LogSumExp, chooser);
    }
}
