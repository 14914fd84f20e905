using System.Collections.Immutable;

namespace Microsoft.ML.Circuits.Structure;

/// <summary>
/// The categorical input layer described without any backend: D variables of C channels with N categories each, P
/// replicas of K_in units, logits of shape (D, C, N, P, K_in) normalised over the categories; and how its rows are
/// multiplied into input regions (<see cref="CircuitPlan.InputRows"/>).
/// </summary>
/// <param name="Variables">D.</param>
/// <param name="Channels">C.</param>
/// <param name="Categories">N.</param>
/// <param name="Replicas">P.</param>
/// <param name="Units">K_in.</param>
/// <param name="Logits">The logits tensor.</param>
/// <param name="InputRows">For each input region, the rows (variable·P + replica) it multiplies.</param>
public sealed record InputLayerSpec(int Variables, int Channels, int Categories, int Replicas, int Units, ParameterSpec Logits,
    ImmutableArray<ImmutableArray<int>> InputRows);
