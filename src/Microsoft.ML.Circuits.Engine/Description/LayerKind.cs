namespace Microsoft.ML.Circuits;

/// <summary>The tensor factorization used for every sum-product layer.</summary>
public enum LayerKind
{
    /// <summary>Tucker: a full K×K×K core per fold; binary partitions only (CLI name <c>tucker</c>).</summary>
    Tucker,
    /// <summary>Collapsed CP: one K×K matrix per fold and input (CLI name <c>cp</c>).</summary>
    CP,
    /// <summary>CP-S: CP whose matrices are shared by all folds of a layer, plus a per-fold scale (CLI name <c>cp-s</c>).</summary>
    CPS,
    /// <summary>CP-XS: CP whose matrices are shared by all folds of a layer (CLI name <c>cp-xs</c>).</summary>
    CPXS,
    /// <summary>Uncollapsed CP of rank R: input factors to R units, then an R×K output matrix (CLI name <c>uncollapsed-cp</c>).</summary>
    UncollapsedCP,
}
