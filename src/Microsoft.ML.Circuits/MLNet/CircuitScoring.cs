using Microsoft.ML.Data;

namespace Microsoft.ML.Circuits;

/// <summary>The columns a circuit transformer adds, computed from each row's log-likelihood.</summary>
internal abstract class ScoreColumns
{
    public abstract IReadOnlyList<(string Name, DataViewType Type)> Columns { get; }

    /// <summary>The columns added to data with <paramref name="inputSchema"/> (by default <see cref="Columns"/>).</summary>
    public virtual IReadOnlyList<(string Name, DataViewType Type)> ColumnsFor(DataViewSchema inputSchema) => Columns;

    /// <summary>A <c>ValueGetter&lt;T&gt;</c> for output column <paramref name="index"/> reading the current row's score.</summary>
    public abstract Delegate MakeGetter(int index, Func<double> score);

    /// <summary>
    /// A getter reading row <paramref name="row"/>() of a computed <paramref name="batch"/>; by default the row's score
    /// through <see cref="MakeGetter(int, Func{double})"/>. Columns that are not one number per row override it.
    /// </summary>
    public virtual Delegate MakeGetter(int index, ScoredBatch batch, Func<int> row) => MakeGetter(index, () => batch.Scores[row()]);
}

/// <summary>
/// The buffers of one batch of rows a cursor (or a row mapper) works on: the rows' pixels in the circuit's order, the
/// missing flags when the column allows missing pixels, and what the transformer computed for them (a score per row,
/// and a vector per row for transformers that emit one). One per cursor, never shared between threads.
/// </summary>
internal sealed class ScoredBatch
{
    public ScoredBatch(int capacity, PixelColumn pixels, int vectorSize)
    {
        Capacity = capacity;
        ImageSize = pixels.Size;
        Variables = pixels.Height * pixels.Width;
        Pixels = new byte[(long)capacity * pixels.Size];
        Missing = pixels.AllowMissing ? new bool[(long)capacity * pixels.Height * pixels.Width] : null;
        Scores = new double[capacity];
        VectorSize = vectorSize;
        Vectors = vectorSize > 0 ? new float[(long)capacity * vectorSize] : null;
    }

    public int Capacity { get; }
    public int ImageSize { get; }
    public int Variables { get; }
    public byte[] Pixels { get; }
    public bool[]? Missing { get; }
    public double[] Scores { get; }
    public int VectorSize { get; }
    public float[]? Vectors { get; }

    /// <summary>The index of the batch's first row in the data (seeds randomised transformers per batch).</summary>
    public long FirstRow { get; set; }

    /// <summary>Reads row <paramref name="slot"/> of the batch with <paramref name="read"/>.</summary>
    public void Read(PixelColumn.Reader read, long rowIndex, int slot)
    {
        read(rowIndex, Pixels.AsSpan(slot * ImageSize, ImageSize), Missing is null ? default : Missing.AsSpan(slot * Variables, Variables));
    }
}

/// <summary>
/// The output of <c>Transform</c>: the input columns plus the score columns. Scores are computed in batches: a
/// second cursor over the input reads only the pixel column ahead of the main cursor, fills a batch, and the circuit
/// scores it with one call. (When a consumer also reads the pixel column itself, the upstream pixel computation runs
/// for both cursors.) The view does not shuffle.
/// </summary>
internal sealed class CircuitScoredDataView : IDataView
{
    readonly IDataView input;
    readonly CircuitTransformerBase transformer;

    public CircuitScoredDataView(IDataView input, CircuitTransformerBase transformer)
    {
        this.input = input;
        this.transformer = transformer;
        transformer.Pixels.CheckSchema(input.Schema);
        Schema = transformer.MakeOutputSchema(input.Schema);
    }

    public DataViewSchema Schema { get; }

    public bool CanShuffle => false;

    public long? GetRowCount() => input.GetRowCount();

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null) =>
        new Cursor(this, columnsNeeded);

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
        [GetRowCursor(columnsNeeded, rand)];

    sealed class Cursor : DataViewRowCursor
    {
        readonly CircuitScoredDataView parent;
        readonly DataViewRowCursor main;
        readonly DataViewRowCursor? lookahead;
        readonly PixelColumn.Reader? readPixels;
        readonly bool[] active;
        readonly int inputCount;
        readonly ScoredBatch batch;
        long position = -1, bufferStart, bufferCount;
        bool disposed;

        public Cursor(CircuitScoredDataView parent, IEnumerable<DataViewSchema.Column> columnsNeeded)
        {
            this.parent = parent;
            inputCount = parent.input.Schema.Count;
            active = new bool[parent.Schema.Count];
            foreach (var column in columnsNeeded) active[column.Index] = true;
            var passthrough = Enumerable.Range(0, inputCount).Where(i => active[i]).Select(i => parent.input.Schema[i]).ToList();
            main = parent.input.GetRowCursor(passthrough);
            batch = parent.transformer.CreateBatch(parent.transformer.ScoringBatchSize);
            if (active.Skip(inputCount).Any(a => a))
            {
                lookahead = parent.input.GetRowCursor([parent.input.Schema[parent.transformer.Pixels.Name]]);
                readPixels = parent.transformer.Pixels.CreateReader(lookahead);
            }
        }

        public override DataViewSchema Schema => parent.Schema;

        public override long Position => position;

        public override long Batch => 0;

        public override ValueGetter<DataViewRowId> GetIdGetter() => main.GetIdGetter();

        public override bool IsColumnActive(DataViewSchema.Column column) => active[column.Index];

        public override bool MoveNext()
        {
            if (disposed || !main.MoveNext()) return false;
            position++;
            if (lookahead is not null && position >= bufferStart + bufferCount) Fill();
            return true;
        }

        void Fill()
        {
            bufferStart = position;
            int count = 0;
            while (count < batch.Capacity && lookahead!.MoveNext())
            {
                batch.Read(readPixels!, bufferStart + count, count);
                count++;
            }
            if (count == 0)
                throw new InvalidOperationException("The input data view returned fewer rows to the scoring cursor than to the main cursor; it must enumerate rows deterministically.");
            batch.FirstRow = bufferStart;
            parent.transformer.Score(batch, count);
            bufferCount = count;
        }

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            if (!active[column.Index])
                throw new InvalidOperationException($"Column '{column.Name}' was not requested when the cursor was created.");
            if (column.Index < inputCount)
                return main.GetGetter<TValue>(parent.input.Schema[column.Index]);
            var getter = parent.transformer.Outputs.MakeGetter(column.Index - inputCount, batch, () => (int)(position - bufferStart));
            return getter as ValueGetter<TValue>
                ?? throw new InvalidOperationException($"Column '{column.Name}' has type {column.Type}, not {typeof(TValue).Name}.");
        }

        protected override void Dispose(bool disposing)
        {
            if (disposed) return;
            if (disposing)
            {
                main.Dispose();
                lookahead?.Dispose();
            }
            disposed = true;
            base.Dispose(disposing);
        }
    }
}

/// <summary>The row-by-row mapper used by <c>PredictionEngine</c> and transformer chains: one circuit call per row.</summary>
internal sealed class CircuitRowMapper : IRowToRowMapper
{
    readonly CircuitTransformerBase transformer;

    public CircuitRowMapper(DataViewSchema inputSchema, CircuitTransformerBase transformer)
    {
        this.transformer = transformer;
        transformer.Pixels.CheckSchema(inputSchema);
        InputSchema = inputSchema;
        OutputSchema = transformer.MakeOutputSchema(inputSchema);
    }

    public DataViewSchema InputSchema { get; }

    public DataViewSchema OutputSchema { get; }

    public IEnumerable<DataViewSchema.Column> GetDependencies(IEnumerable<DataViewSchema.Column> dependingColumns)
    {
        var needed = new HashSet<int>();
        foreach (var column in dependingColumns)
        {
            if (column.Index < InputSchema.Count) needed.Add(column.Index);
            else needed.Add(InputSchema[transformer.Pixels.Name].Index);
        }
        return needed.Order().Select(i => InputSchema[i]).ToList();
    }

    public DataViewRow GetRow(DataViewRow input, IEnumerable<DataViewSchema.Column> activeColumns) => new Row(this, input, activeColumns);

    sealed class Row : DataViewRow
    {
        readonly CircuitRowMapper mapper;
        readonly DataViewRow input;
        readonly bool[] active;
        readonly PixelColumn.Reader? readPixels;
        readonly ScoredBatch batch;
        long scoredPosition = -1;

        public Row(CircuitRowMapper mapper, DataViewRow input, IEnumerable<DataViewSchema.Column> activeColumns)
        {
            this.mapper = mapper;
            this.input = input;
            active = new bool[mapper.OutputSchema.Count];
            foreach (var column in activeColumns) active[column.Index] = true;
            batch = mapper.transformer.CreateBatch(1);
            if (active.Skip(mapper.InputSchema.Count).Any(a => a))
                readPixels = mapper.transformer.Pixels.CreateReader(input);
        }

        public override DataViewSchema Schema => mapper.OutputSchema;

        public override long Position => input.Position;

        public override long Batch => input.Batch;

        public override ValueGetter<DataViewRowId> GetIdGetter() => input.GetIdGetter();

        public override bool IsColumnActive(DataViewSchema.Column column) => active[column.Index];

        int Current()
        {
            if (scoredPosition != input.Position || input.Position < 0)
            {
                batch.Read(readPixels!, input.Position, 0);
                batch.FirstRow = Math.Max(0, input.Position);
                mapper.transformer.Score(batch, 1);
                scoredPosition = input.Position;
            }
            return 0;
        }

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            if (!active[column.Index])
                throw new InvalidOperationException($"Column '{column.Name}' is not active.");
            if (column.Index < mapper.InputSchema.Count)
                return input.GetGetter<TValue>(mapper.InputSchema[column.Index]);
            return mapper.transformer.Outputs.MakeGetter(column.Index - mapper.InputSchema.Count, batch, Current) as ValueGetter<TValue>
                ?? throw new InvalidOperationException($"Column '{column.Name}' has type {column.Type}, not {typeof(TValue).Name}.");
        }
    }
}
