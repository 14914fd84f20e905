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

    /// <summary><paramref name="target"/> += <paramref name="other"/>, in place.</summary>
    public static Tensor AddInPlace(this Tensor target, Tensor other) => target.add_(other, One);

    /// <summary><paramref name="left"/> + <paramref name="right"/>.</summary>
    public static Tensor Plus(this Tensor left, Tensor right) => left.add(right, One);

    /// <summary><paramref name="target"/> += <paramref name="value"/>, in place (the value's Scalar kept alive through the call).</summary>
    public static Tensor AddInPlace(this Tensor target, long value)
    {
        using var scalar = value.ToScalar();
        return target.add_(scalar, One);
    }

    /// <summary><paramref name="target"/>[index[i]] += <paramref name="source"/>[i] along <paramref name="dim"/>, in place.</summary>
    public static Tensor IndexAddInPlace(this Tensor target, long dim, Tensor index, Tensor source) => target.index_add_(dim, index, source, One);
}
