using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Semirings;

/// <summary>
/// Sum-product on scaled-linear values: a vector of K units is stored as K + 1 numbers along the last dimension, the
/// K linear values scaled to a maximum of 1 (all 0 for the zero vector) and one log-scale s (for the zero vector a
/// finite floor, <see cref="ZeroScale"/>), value = e^s · linear. Sums and products are plain matrix products and multiplications of the linear parts, with the
/// log-scales added; each operation ends with one rescale (maximum over the units, a division, the log of the maximum
/// added to s), so no exponential or logarithm touches the K values of a vector. Exact in the same sense as the
/// max-subtraction trick: the rescale is a detached constant factor, so values and gradients are those of the
/// sum-product circuit, and a zero vector stays exactly zero (its log-value is −∞ when converted back; never NaN in
/// values or gradients).
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

    /// <summary>
    /// The log-scale of the zero vector: a finite floor rather than −∞, so that a matrix product may read the scale
    /// column against a zero weight row (scale · 0 = 0, where −∞ · 0 would be NaN). Far below any real log-scale
    /// (|log c(x)| of a megapixel image is ≈ 1e7), and its square is still finite in float32.
    /// </summary>
    internal const float ZeroScale = -1e15f;

    static readonly Scalar ZeroScaleScalar = ZeroScale.ToScalar();

    /// <summary>
    /// The linear part (…, K) and the log-scale (…, 1) of packed values (…, K + 1), as views made by one split, whose
    /// backward writes the gradient into one tensor (two narrows would each zero-fill and copy a full-size gradient).
    /// The log-scale is detached: every scale is a sum of detached maxima (constant factors, like the shift of the
    /// max-subtraction trick), so the gradients flow through the linear parts only, and exactly.
    /// </summary>
    static (Tensor Linear, Tensor LogScale) Split(Tensor x)
    {
        long units = x.shape[^1] - 1;
        var parts = x.split([units, 1L], -1);
        return (parts[0], parts[1].detach());
    }

    /// <summary>
    /// Packs non-negative linear values <paramref name="y"/> (…, K) with log-scale <paramref name="logScale"/> (…, 1)
    /// after rescaling them to a maximum of 1: the maximum is detached (a constant factor, as the shift of the
    /// max-subtraction trick), a zero vector keeps its zeros and gets the floor scale <see cref="ZeroScale"/>.
    /// </summary>
    static Tensor Rescale(Tensor y, Tensor logScale)
    {
        using var scope = NewDisposeScope();
        var max = y.detach().amax([-1], keepdim: true);
        var divisor = max.masked_fill(max.eq(TensorArithmetic.ZeroSingle), TensorArithmetic.OneSingle);
        return torch.cat([y.div(divisor), logScale.Plus(max.log()).clamp_min_(ZeroScaleScalar)], -1).MoveToOuterDisposeScope();
    }

    internal override Tensor FromLogValues(Tensor logValues)
    {
        using var scope = NewDisposeScope();
        var max = logValues.detach().amax([-1], keepdim: true);
        var shift = max.nan_to_num(0.0, 0.0, 0.0);
        var linear = (logValues - shift).exp_();
        return torch.cat([linear, max.clamp_min(ZeroScaleScalar)], -1).MoveToOuterDisposeScope();
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
        return torch.cat([linear.masked_fill(where, TensorArithmetic.ZeroSingle), logScale.masked_fill(where, ZeroScaleScalar)], -1)
            .MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The matrix product of the linear parts of packed <paramref name="x"/> (N, B, I + 1) with <paramref name="weight"/>
    /// (N, I, O), and the log-scales (N, B, 1), detached. When the batch is larger than the output (B &gt; O, a data
    /// pass), the product reads the packed tensor whole against the weights with a zero row appended for the scale
    /// column, so its backward writes the packed gradient directly (a split of x costs a concatenation of the
    /// activation-sized gradient); otherwise (log Z, B = 1) it splits x (appending the row costs a copy of the weights).
    /// </summary>
    static (Tensor Product, Tensor LogScale) LinearMatMul(Tensor x, Tensor weight)
    {
        long units = x.shape[^1] - 1;
        var logScale = x.detach().narrow(-1, units, 1);
        if (x.shape[1] <= weight.shape[2])
            return (torch.bmm(Split(x).Linear, weight), logScale);
        using var zeros = torch.zeros([weight.shape[0], 1, weight.shape[2]], weight.dtype, weight.device);
        using var augmented = torch.cat([weight, zeros], 1);
        return (torch.bmm(x, augmented), logScale);
    }

    public override Tensor MatMul(Tensor x, Tensor weight)
    {
        using var scope = NewDisposeScope();
        var (product, logScale) = LinearMatMul(x, weight);
        return Rescale(product, logScale).MoveToOuterDisposeScope();
    }

    internal override Tensor MatMulProduct(Tensor x, Tensor weight, long[] shape, long slotDim, Tensor? padded, Tensor? logUnitFactor)
    {
        using var scope = NewDisposeScope();
        var (matrixProduct, logScale) = LinearMatMul(x, weight);
        var y = matrixProduct.view(shape);
        var scale = logScale.view(shape[0], shape[1], shape[2], 1);
        if (shape[slotDim] > 2)
        {
            // More than two slots: rescale each slot's result before the product, so that the product of H maxima, each
            // possibly as small as the clamp bound times 1, cannot leave float32's range (two such factors stay within it).
            var max = y.detach().amax([-1], keepdim: true);
            y = y.div(max.masked_fill(max.eq(TensorArithmetic.ZeroSingle), TensorArithmetic.OneSingle));
            scale = scale.Plus(max.log()).clamp_min_(ZeroScaleScalar);
        }
        if (padded is not null)
        {
            // A left-out slot is the product's unit: linear 1, scale 0.
            y = y.masked_fill(padded, TensorArithmetic.OneSingle);
            scale = scale.masked_fill(padded, TensorArithmetic.ZeroSingle);
        }
        var product = Chain(y, slotDim);
        if (logUnitFactor is not null) product = product.mul(logUnitFactor.exp());
        return Rescale(product, scale.sum(slotDim)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The product over <paramref name="slotDim"/> as a chain of multiplications (prod's backward divides by its inputs,
    /// which may be 0, and then takes a slow path), of slices made by one unbind (whose backward stacks the gradients;
    /// a select per slot would zero-fill and copy a full-size gradient each).
    /// </summary>
    static Tensor Chain(Tensor y, long slotDim)
    {
        var slots = y.unbind(slotDim);
        var product = slots[0];
        for (int h = 1; h < slots.Length; h++) product = product.mul(slots[h]);
        return product;
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
        // Bring every slot to the largest scale among them (a detached shift), so the sum is over linear values; a
        // zero vector's floor scale gives factor e^(floor − shift) = 0 beside any real slot (and gradient 0).
        var shift = SafeMax(logScale, dim);
        var factor = (logScale - shift).exp_();
        var y = linear.mul(weight.mul(factor)).sum(dim);
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
