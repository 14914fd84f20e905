using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Semirings;

/// <summary>
/// Tensor additions that are safe under garbage collection. TorchSharp 0.107's <c>Tensor.add_(Tensor)</c> passes a
/// scale factor α = 1 as a temporary <see cref="Scalar"/> whose native handle the finalizer may free while libtorch is
/// still reading it (seen as "argument alpha must not be a floating point number" or a failed Scalar check when a GC
/// runs during the call); <c>add(Tensor)</c> and the <c>+</c> operator do the same. These helpers pass one
/// <see cref="Scalar"/> that lives as long as the process. (Subtraction takes no α and is not affected.)
/// </summary>
internal static class TensorArithmetic
{
    // Scalars are not tracked by dispose scopes in TorchSharp 0.107, so this one is never disposed nor finalized.
    static readonly Scalar One = 1.ToScalar();

    // Constants of the top-down pass, for the same reason: a temporary Scalar converted at the call could be finalized
    // while libtorch reads it; these live as long as the process.
    internal static readonly Scalar ZeroInt64 = 0L.ToScalar(), OneInt64 = 1L.ToScalar(), MinusOneInt64 = (-1L).ToScalar();
    internal static readonly Scalar NegativeInfinity = float.NegativeInfinity.ToScalar(), Tiny = 1e-30f.ToScalar();
    internal static readonly Scalar ZeroSingle = 0f.ToScalar(), OneSingle = 1f.ToScalar();

    /// <summary><paramref name="target"/> += <paramref name="other"/>, in place.</summary>
    public static Tensor AddInPlace(this Tensor target, Tensor other) => target.add_(other, One);

    /// <summary><paramref name="left"/> + <paramref name="right"/>.</summary>
    public static Tensor Plus(this Tensor left, Tensor right) => left.add(right, One);

    /// <summary><paramref name="target"/> += <paramref name="value"/>, in place (the value's Scalar kept alive through the call).</summary>
    public static Tensor AddInPlace(this Tensor target, double value)
    {
        using var scalar = value.ToScalar();
        return target.add_(scalar, One);
    }

    /// <summary><paramref name="target"/>[index[i]] += <paramref name="source"/>[i] along <paramref name="dim"/>, in place.</summary>
    public static Tensor IndexAddInPlace(this Tensor target, long dim, Tensor index, Tensor source) => target.index_add_(dim, index, source, One);
}
