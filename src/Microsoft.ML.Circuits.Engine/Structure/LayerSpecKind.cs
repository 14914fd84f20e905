namespace Microsoft.ML.Circuits.Structure;

/// <summary>What a folded inner layer computes: one of the tensor factorizations, or the mixing of partitions.</summary>
public enum LayerSpecKind
{
    /// <summary>Tucker: y[f,o] = Σ_{i,j} l[f,i]·r[f,j]·W[f,i,j,o] (arity 2).</summary>
    Tucker,
    /// <summary>Collapsed CP: y[f,o] = Π_h Σ_i W[f,h,i,o]·x[f,h,i].</summary>
    CP,
    /// <summary>CP-XS: collapsed CP whose matrices are shared by every fold.</summary>
    CPXS,
    /// <summary>CP-S: CP-XS times a per-fold, per-unit scale.</summary>
    CPS,
    /// <summary>Uncollapsed CP of rank R: z[f,r] = Π_h Σ_i A[f,h,i,r]·x[f,h,i], y[f,o] = Σ_r B[f,r,o]·z[f,r].</summary>
    UncollapsedCP,
    /// <summary>Mixing: y[f,k] = Σ_h w[f,h,k]·x[f,h,k] over a region's partitions, unit by unit.</summary>
    Mixing,
}
