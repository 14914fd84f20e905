using Microsoft.ML.Circuits.Semirings;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Queries;

/// <summary>
/// How the top-down pass picks among the inputs of a sum: by their scores (log-weight + the input's upward log-value),
/// either the largest (<see cref="Argmax"/>: MAP backtracking, ties broken by the lowest index) or a draw in proportion
/// to exp(score) by the Gumbel-max trick (<see cref="Gumbel"/>: sampling; no normalisation needed, −∞ never chosen).
/// </summary>
internal abstract class UnitChooser
{
    /// <summary>The index along <paramref name="dim"/> (removed) chosen from <paramref name="scores"/>.</summary>
    public abstract Tensor Pick(Tensor scores, long dim);

    /// <summary>Always the largest score.</summary>
    public static UnitChooser Argmax { get; } = new ArgmaxChooser();

    /// <summary>Draws with probability ∝ exp(score) from a generator seeded with <paramref name="seed"/> on <paramref name="device"/>.</summary>
    public static GumbelChooser Gumbel(long seed, Device device) => new(seed, device);

    sealed class ArgmaxChooser : UnitChooser
    {
        public override Tensor Pick(Tensor scores, long dim) => scores.argmax(dim);
    }
}

/// <summary>Gumbel-max sampling: argmax(score + g), g = −log(−log u), u uniform in (0, 1).</summary>
internal sealed class GumbelChooser : UnitChooser, IDisposable
{
    readonly Generator generator;
    readonly Device device;

    public GumbelChooser(long seed, Device device)
    {
        this.device = device;
        generator = new Generator((ulong)seed, device);
    }

    public override Tensor Pick(Tensor scores, long dim)
    {
        using var scope = NewDisposeScope();
        // u in [tiny, 1): −log u in (0, 87]; −log(−log u) finite. Scores of −∞ stay −∞ and are never picked.
        var u = torch.rand(scores.shape, ScalarType.Float32, device, generator: generator).clamp_min_(TensorArithmetic.Tiny);
        var gumbel = u.log_().neg_().log_().neg_();
        return scores.Plus(gumbel).argmax(dim).MoveToOuterDisposeScope();
    }

    public void Dispose() => generator.Dispose();
}
