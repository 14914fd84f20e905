namespace Microsoft.ML.Circuits;

/// <summary>Which mixing (sum over partitions) layers keep their weights fixed at 0.5.</summary>
public enum MixingFreeze
{
    /// <summary>Every mixing layer is frozen (the paper's default, CLI <c>all</c>).</summary>
    All,
    /// <summary>Every mixing layer but the last (the root's) is frozen (CLI <c>not_last</c>).</summary>
    AllButLast,
    /// <summary>Every mixing layer is trained (CLI <c>no</c>).</summary>
    None,
}
