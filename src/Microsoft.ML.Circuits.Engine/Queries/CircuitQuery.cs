namespace Microsoft.ML.Circuits.Queries;

/// <summary>
/// A question asked of a circuit, answered by one or more runs of its plan walker over a semiring (as in cirkit's
/// queries). Queries hold no state of their own beyond the circuit; they are cheap to create.
/// </summary>
public abstract class CircuitQuery
{
    private protected CircuitQuery(TensorizedCircuit circuit)
    {
        Circuit = circuit ?? throw new ArgumentNullException(nameof(circuit));
    }

    /// <summary>The circuit the query runs on.</summary>
    public TensorizedCircuit Circuit { get; }
}
