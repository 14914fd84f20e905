using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Semirings;

/// <summary>
/// Sum-product on scaled-linear values: a vector of K units is stored as K + 1 numbers along the last dimension, the
/// K linear values scaled to a maximum of 1 (all 0 for the zero vector) and one log-scale s (−∞ for the zero vector),
/// value = e^s · linear. Sums and products are plain matrix products and multiplications of the linear parts, with the
/// log-scales added; each operation ends with one rescale (maximum over the units, a division, the log of the maximum
/// added to s), so no exponential or logarithm touches the K values of a vector. Exact in the same sense as the
/// max-subtraction trick: the rescale is a detached constant factor, so values and gradients are those of the
/// sum-product circuit, and a zero vector stays exactly zero (scale −∞, never NaN in values or gradients).
/// </summary>
/// <remarks>
/// Range: a rescaled vector has maximum 1, so a matrix product of it with weights whose largest entry per input row
/// is at least the clamp bound (≈ 1e−19) keeps its maximum above that bound, and a product of two such slots stays
/// within float32's normal range. Entries far below the maximum (below ≈ 1e−38 of it) flush to zero; they contribute
/// less than float32 rounding to any sum in which the maximum takes part.
/// </remarks>
internal sealed class ScaledLinearSemiring : Semiring
{
    public override string Name => "scaled-linear";

    public override bool SumOfNormalizedIsZero => true;

    internal override int Width(int units) => units + 1;

    /// <summary>The linear part (…, K) and the log-scale (…, 1) of packed values (…, K + 1), as views.</summary>
    static (Tensor Linear, Tensor LogScale) Split(Tensor x)
    {
        long units = x.shape[^1] - 1;
        return (x.narrow(-1, 0, units), x.narrow(-1, units, 1));
    }

    /// <summary>
    /// Packs non-negative linear values <paramref name="y"/> (…, K) with log-scale <paramref name="logScale"/> (…, 1)
    /// after rescaling them to a maximum of 1: the maximum is detached (a constant factor, as the shift of the
    /// max-subtraction trick), a zero vector keeps its zeros and gets scale −∞.
    /// </summary>
    static Tensor Rescale(Tensor y, Tensor logScale)
    {
        using var scope = NewDisposeScope();
        var max = y.detach().amax([-1], keepdim: true);
        var divisor = max.masked_fill(max.eq(TensorArithmetic.ZeroSingle), TensorArithmetic.OneSingle);
        return torch.cat([y.div(divisor), logScale.Plus(max.log())], -1).MoveToOuterDisposeScope();
    }

    internal override Tensor FromLogValues(Tensor logValues)
    {
        using var scope = NewDisposeScope();
        var max = logValues.detach().amax([-1], keepdim: true);
        var shift = max.nan_to_num(0.0, 0.0, 0.0);
        var linear = (logValues - shift).exp_();
        return torch.cat([linear, max], -1).MoveToOuterDisposeScope();
    }

    internal override Tensor ToLogValues(Tensor values)
    {
        using var scope = NewDisposeScope();
        var (linear, logScale) = Split(values);
        // log of the linear part where it is positive, −∞ where it is 0, with no log(0) in the graph (whose gradient is ∞).
        var zero = linear.le(TensorArithmetic.ZeroSingle);
        var logLinear = linear.masked_fill(zero, TensorArithmetic.OneSingle).log().masked_fill(zero, TensorArithmetic.NegativeInfinity);
        return logLinear.Plus(logScale).MoveToOuterDisposeScope();
    }

    internal override Tensor ZeroAt(Tensor x, Tensor where)
    {
        using var scope = NewDisposeScope();
        var (linear, logScale) = Split(x);
        return torch.cat([linear.masked_fill(where, TensorArithmetic.ZeroSingle), logScale.masked_fill(where, TensorArithmetic.NegativeInfinity)], -1)
            .MoveToOuterDisposeScope();
    }

    public override Tensor MatMul(Tensor x, Tensor weight)
    {
        using var scope = NewDisposeScope();
        var (linear, logScale) = Split(x);
        return Rescale(torch.bmm(linear, weight), logScale).MoveToOuterDisposeScope();
    }

    internal override Tensor MatMulProduct(Tensor x, Tensor weight, long[] shape, long slotDim, Tensor? padded, Tensor? logUnitFactor)
    {
        using var scope = NewDisposeScope();
        var (linear, logScale) = Split(x);
        var y = torch.bmm(linear, weight).view(shape);
        var scale = logScale.view(shape[0], shape[1], shape[2], 1);
        if (padded is not null)
        {
            // A left-out slot is the product's unit: linear 1, scale 0.
            y = y.masked_fill(padded, TensorArithmetic.OneSingle);
            scale = scale.masked_fill(padded, TensorArithmetic.ZeroSingle);
        }
        // The product over the slots as a chain of multiplications (prod's backward divides by its inputs, which are often 0).
        var product = y.select(slotDim, 0);
        for (long h = 1; h < shape[slotDim]; h++) product = product.mul(y.select(slotDim, h));
        if (logUnitFactor is not null) product = product.mul(logUnitFactor.exp());
        return Rescale(product, scale.sum(slotDim)).MoveToOuterDisposeScope();
    }

    public override Tensor OuterMatMul(Tensor left, Tensor right, Tensor weight)
    {
        using var scope = NewDisposeScope();
        var (l, leftScale) = Split(left);
        var (r, rightScale) = Split(right);
        long folds = l.shape[0], batch = l.shape[1], i = l.shape[2], j = r.shape[2];
        var outer = (l.unsqueeze(3) * r.unsqueeze(2)).view(folds, batch, i * j);
        return Rescale(torch.bmm(outer, weight), leftScale.Plus(rightScale)).MoveToOuterDisposeScope();
    }

    public override Tensor WeightedSum(Tensor x, Tensor weight, long dim)
    {
        using var scope = NewDisposeScope();
        var (linear, logScale) = Split(x);
        // Bring every slot to the largest scale among them (a detached, guarded shift: all −∞ gives 0), so the sum
        // is over linear values; a slot of scale −∞ gets factor 0 (and gradient 0).
        var shift = SafeMax(logScale, dim);
        var factor = (logScale - shift).exp_();
        var y = (linear * factor * weight).sum(dim);
        return Rescale(y, shift.squeeze(dim)).MoveToOuterDisposeScope();
    }

    public override Tensor Sum(Tensor x, long dim)
    {
        long last = x.ndim - 1;
        if (dim == -1 || dim == last)
        {
            using var scope = NewDisposeScope();
            var (linear, logScale) = Split(x);
            return Rescale(linear.sum(-1, keepdim: true), logScale).MoveToOuterDisposeScope();
        }
        using var one = torch.ones(1, x.dtype, x.device);
        return WeightedSum(x, one, dim);
    }
}
