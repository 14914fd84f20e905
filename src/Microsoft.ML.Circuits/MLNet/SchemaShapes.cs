using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Circuits;

internal static class SchemaShapes
{
    public static SchemaShape AddScalars(SchemaShape inputSchema, string inputColumnName, params (string Name, DataViewType Type)[] outputs)
    {
        if (!inputSchema.TryFindColumn(inputColumnName, out var column))
            throw new ArgumentOutOfRangeException(nameof(inputSchema), $"Input column '{inputColumnName}' not found; the data has: {string.Join(", ", inputSchema.Select(c => c.Name))}.");
        if (column.Kind != SchemaShape.Column.VectorKind.Vector || (column.ItemType != NumberDataViewType.Single && column.ItemType != NumberDataViewType.Byte))
            throw new ArgumentOutOfRangeException(nameof(inputSchema),
                $"Input column '{inputColumnName}' must be a known-size vector of Single or Byte pixel values, but it is {column.Kind} of {column.ItemType}.");
        var result = inputSchema.ToDictionary(c => c.Name);
        foreach (var (name, type) in outputs)
            result[name] = new SchemaShape.Column(name, SchemaShape.Column.VectorKind.Scalar, type, false);
        return new SchemaShape(result.Values);
    }
}
