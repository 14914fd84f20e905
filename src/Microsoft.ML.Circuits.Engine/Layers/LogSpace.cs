using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Layers;

/// <summary>
/// Log-space linear algebra with the max-subtraction trick: subtract each vector's maximum, exponentiate, apply the
/// non-negative linear map, take the log and add the maximum back. The maximum is detached (its gradient cancels)
/// and replaced by 0 where it is not finite, so a vector that is entirely −∞ yields −∞, never NaN.
/// </summary>
public static class LogSpace
{
    /// <summary>The clamp bound of the projected-gradient parameterisation: sqrt(float32 tiny) ≈ 1.0842e−19.</summary>
    public static readonly float ClampMinimum = MathF.Sqrt(1.17549435e-38f);

    /// <summary>The maximum of <paramref name="x"/> over <paramref name="dim"/> (kept), detached, with non-finite values replaced by 0.</summary>
    public static Tensor SafeMax(Tensor x, long dim)
    {
        using var max = x.amax([dim], keepdim: true).detach();
        return max.nan_to_num(0.0, 0.0, 0.0);
    }

    /// <summary>
    /// log(exp(x) · w) for a batch of matrices: <paramref name="x"/> (N, B, I) in log space,
    /// <paramref name="weight"/> (N, I, O) non-negative and linear; returns (N, B, O) in log space.
    /// </summary>
    public static Tensor LogMatMul(Tensor x, Tensor weight)
    {
        using var scope = NewDisposeScope();
        var max = SafeMax(x, -1);
        var linear = torch.bmm((x - max).exp_(), weight);
        return linear.log_().add_(max).MoveToOuterDisposeScope();
    }
}
