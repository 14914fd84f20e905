namespace Microsoft.ML.Circuits;

/// <summary>How <see cref="CircuitInpaintingTransformer"/> fills missing pixels.</summary>
public enum InpaintingMethod
{
    /// <summary>
    /// The most probable completion under the max-product circuit (deterministic). Exact MAP of the circuit only for
    /// deterministic circuits, which tensorized circuits are not: the standard max-product approximation.
    /// </summary>
    Map,

    /// <summary>A draw from the exact conditional p(missing | observed), seeded.</summary>
    ConditionalSample,
}
