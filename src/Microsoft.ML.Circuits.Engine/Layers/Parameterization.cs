using Microsoft.ML.Circuits.Semirings;
using Microsoft.ML.Circuits.Structure;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Layers;

/// <summary>
/// Turns a raw parameter θ into non-negative weights according to a <see cref="Reparameterization"/>:
/// clamp (w = θ, projected to ≥ <see cref="ClampMinimum"/> after each step), exp (w = e^θ) or softmax
/// (w = softmax of θ over the dimensions each unit normalises over). Initial weights are U(low, high) in every case
/// (θ = log of it for exp and softmax).
/// </summary>
internal static class Parameterization
{
    /// <summary>The clamp bound of the projected-gradient parameterisation: sqrt(float32 tiny) ≈ 1.0842e−19.</summary>
    public static readonly float ClampMinimum = MathF.Sqrt(1.17549435e-38f);

    /// <summary>Creates θ (on CPU, from <paramref name="generator"/>) whose weights are uniform in [low, high).</summary>
    public static Tensor InitialUniform(long[] shape, Reparameterization reparameterization, Generator generator, double low = 0.01, double high = 0.99)
    {
        // The scale's Scalar lives in a local through the call, and the offset goes through TensorArithmetic: a
        // temporary Scalar (double → Scalar, or add_'s α) can be finalized while libtorch still reads it.
        using var scale = (high - low).ToScalar();
        var u = torch.rand(shape, ScalarType.Float32, generator: generator).mul_(scale).AddInPlace(low);
        return reparameterization == Reparameterization.Clamp ? u : u.log_();
    }

    /// <summary>The weights of θ described by <paramref name="spec"/>: under softmax, normalised over its normalised axes.</summary>
    public static Tensor Weights(Tensor theta, ParameterSpec spec, Reparameterization reparameterization)
    {
        var axes = spec.NormalizedAxes;
        if (reparameterization == Reparameterization.Softmax && axes.IsEmpty)
            throw new ArgumentException($"Parameter '{spec.Name}' has no normalised axes; softmax does not apply to it.", nameof(spec));
        return Weights(theta, reparameterization, axes.IsEmpty ? 0 : axes[0], Math.Max(axes.Length, 1));
    }

    /// <summary>
    /// The weights of θ. For softmax, <paramref name="normalizedDims"/> consecutive dimensions starting at
    /// <paramref name="firstNormalizedDim"/> are normalised together.
    /// </summary>
    public static Tensor Weights(Tensor theta, Reparameterization reparameterization, int firstNormalizedDim, int normalizedDims = 1)
    {
        switch (reparameterization)
        {
            case Reparameterization.Clamp:
                return theta.alias();
            case Reparameterization.Exp:
                return theta.exp();
            case Reparameterization.Softmax:
                if (normalizedDims == 1) return theta.softmax(firstNormalizedDim);
                var shape = theta.shape;
                var merged = shape.Take(firstNormalizedDim).Append(-1L).Concat(shape.Skip(firstNormalizedDim + normalizedDims)).ToArray();
                using (var flat = theta.reshape(merged))
                using (var soft = flat.softmax(firstNormalizedDim))
                    return soft.reshape(shape);
            default:
                throw new ArgumentOutOfRangeException(nameof(reparameterization));
        }
    }

    /// <summary>The clamp projection: raises every element of θ to at least <see cref="ClampMinimum"/> (clamp only).</summary>
    public static void Project(Parameter theta, Reparameterization reparameterization)
    {
        if (reparameterization != Reparameterization.Clamp) return;
        using var _ = torch.no_grad();
        theta.clamp_(ClampMinimum, float.PositiveInfinity);
    }

    /// <summary>Wraps <paramref name="initial"/> (consumed) as a trainable parameter on <paramref name="device"/>.</summary>
    public static Parameter ToParameter(Tensor initial, Device device)
    {
        using var moved = initial.to(device);
        initial.Dispose();
        return new Parameter(moved.detach().clone(), requires_grad: true);
    }
}
