namespace Microsoft.ML.Circuits.RegionGraphs;

/// <summary>
/// Quad-tree region graphs over an H×W image (variables are pixels in row-major order, index = row·W + col).
/// Pixels are merged bottom-up in 2×2 blocks; halving each side with (n+1)/2 until one region is left. At an odd
/// boundary a block has two children (one binary partition) or one (passed up unchanged).
/// </summary>
public static class QuadTree
{
    /// <summary>
    /// QT-4: every full 2×2 block becomes one 4-ary partition (the ten-pcs <c>QuadTree</c>, "RQT" in the paper's
    /// result tables). For 28×28: 1049 regions and 265 partitions.
    /// </summary>
    public static RegionGraph CreateFourWay(int height, int width) => Build(height, width, MergeFour);

    /// <summary>
    /// QT-2: every full 2×2 block is merged as a binary tree, first the top and bottom rows (pairs of horizontal
    /// neighbours), then the two rows (cirkit's <c>quad-tree-2</c>). For 28×28: 1567 regions and 783 partitions.
    /// </summary>
    public static RegionGraph CreateBinary(int height, int width) => Build(height, width, MergeFourAsBinaryTree);

    static int MergeFour(RegionGraphBuilder graph, Block block) => graph.Merge(block.TopLeft, block.BottomLeft, block.TopRight, block.BottomRight);

    static int MergeFourAsBinaryTree(RegionGraphBuilder graph, Block block)
    {
        int top = graph.Merge(block.TopLeft, block.TopRight);
        int bottom = graph.Merge(block.BottomLeft, block.BottomRight);
        return graph.Merge(top, bottom);
    }

    /// <summary>The four regions of a full 2×2 block of the buffer.</summary>
    internal readonly record struct Block(int TopLeft, int TopRight, int BottomLeft, int BottomRight);

    /// <summary>
    /// The bottom-up quad construction shared by quad trees and the quad graph: <paramref name="mergeFour"/> builds
    /// the structure over a full 2×2 block; two children are merged by one binary partition and a single child is
    /// passed up.
    /// </summary>
    internal static RegionGraph Build(int height, int width, Func<RegionGraphBuilder, Block, int> mergeFour)
    {
        ImageShape.Validate(height, width, minimumPixels: 2, "a quad region graph");
        var graph = new RegionGraphBuilder(height * width);
        var buffer = new int[height, width];
        for (int r = 0; r < height; r++)
            for (int c = 0; c < width; c++)
                buffer[r, c] = graph.AddRegion([r * width + c]);

        while (buffer.GetLength(0) > 1 || buffer.GetLength(1) > 1)
        {
            int oldRows = buffer.GetLength(0), oldCols = buffer.GetLength(1);
            int rows = (oldRows + 1) / 2, cols = (oldCols + 1) / 2;
            var next = new int[rows, cols];
            for (int i = 0; i < rows; i++)
            {
                for (int j = 0; j < cols; j++)
                {
                    int r = 2 * i, c = 2 * j;
                    bool down = r + 1 < oldRows, right = c + 1 < oldCols;
                    next[i, j] = (down, right) switch
                    {
                        (true, true) => mergeFour(graph, new Block(buffer[r, c], buffer[r, c + 1], buffer[r + 1, c], buffer[r + 1, c + 1])),
                        (true, false) => graph.Merge(buffer[r, c], buffer[r + 1, c]),
                        (false, true) => graph.Merge(buffer[r, c], buffer[r, c + 1]),
                        (false, false) => buffer[r, c],
                    };
                }
            }
            buffer = next;
        }
        return graph.Build();
    }
}
