namespace Microsoft.ML.Circuits.Structure;

/// <summary>Whether a folded layer computes partitions (sum-product) or mixes a region's partitions.</summary>
public enum FoldedLayerRole
{
    /// <summary>One fold per partition: a tensor factorization (Tucker, CP, …) of the partition's child regions.</summary>
    SumProduct,
    /// <summary>One fold per region with several partitions: a per-unit weighted sum over the partitions.</summary>
    Mixing,
}
