using System.Collections.Concurrent;
using Microsoft.ML.Circuits.Kernels;
using TorchSharp;

namespace Microsoft.ML.Circuits.Tests.Kernels;

/// <summary>
/// The fork-join the native kernels' ranges run on (<see cref="KernelWorkers"/>, through
/// <see cref="CircuitsNative.ForRanges"/>): every range exactly once, codes and exceptions passed back, sleeping workers
/// woken, concurrent callers served. Managed bodies stand in for the kernels, so these need no native library.
/// </summary>
[TestClass]
public sealed class KernelWorkersTests
{
    static T WithThreads<T>(int threads, Func<T> body)
    {
        int before = torch.get_num_threads();
        var use = KernelWorkers.Use;
        try
        {
            torch.set_num_threads(threads);
            KernelWorkers.Use = true;
            return body();
        }
        finally
        {
            torch.set_num_threads(before);
            KernelWorkers.Use = use;
        }
    }

    [TestMethod]
    [DataRow(2, 1000L)]
    [DataRow(3, 10L)]
    [DataRow(4, 3L)]
    public void EveryRangeRunsExactlyOnceWithTheSplitOfForRanges(int threads, long count)
    {
        var ranges = WithThreads(threads, () =>
        {
            var seen = new ConcurrentBag<(long Begin, long End)>();
            for (int call = 0; call < 50; call++)
            {
                seen.Clear();
                CircuitsNative.ForRanges(count, (begin, end) =>
                {
                    seen.Add((begin, end));
                    return 0;
                });
                var sorted = seen.OrderBy(r => r.Begin).ToArray();
                int parts = (int)Math.Min(count, threads);
                Assert.AreEqual(parts, sorted.Length, $"call {call}: one range per part");
                for (int p = 0; p < parts; p++)
                    Assert.AreEqual((count * p / parts, count * (p + 1) / parts), sorted[p], $"call {call}: range {p}");
            }
            return seen.Count;
        });
        Assert.IsTrue(ranges > 0);
    }

    [TestMethod]
    public void ASleepingWorkerIsWokenAndRunsARangeAtTheSameTimeAsTheCaller()
    {
        // Each range waits until the other has started: only two threads running at once get through. The pause lets
        // the worker pass its spin and go to sleep first, so the call must wake it.
        bool together = WithThreads(2, () =>
        {
            CircuitsNative.ForRanges(2, (_, _) => 0);   // the worker exists
            Thread.Sleep(50);
            using var started = new CountdownEvent(2);
            bool met = true;
            CircuitsNative.ForRanges(2, (_, _) =>
            {
                started.Signal();
                if (!started.Wait(TimeSpan.FromSeconds(10))) met = false;
                return 0;
            });
            return met;
        });
        Assert.IsTrue(together, "the two ranges ran at the same time: the sleeping worker was woken");
    }

    [TestMethod]
    public void ACodeOrAnExceptionOfARangeReachesTheCaller()
    {
        WithThreads(3, () =>
        {
            var rejected = Assert.Throws<InvalidOperationException>(() =>
                CircuitsNative.ForRanges(9, (begin, _) => begin == 3 ? -1 : 0));
            StringAssert.Contains(rejected.Message, "code -1");
            var mapped = Assert.Throws<OutOfMemoryException>(() =>
                CircuitsNative.ForRanges(9, (begin, _) => begin == 6 ? 2 : 0, code => new OutOfMemoryException($"code {code}")));
            StringAssert.Contains(mapped.Message, "code 2");
            var thrown = Assert.Throws<ArithmeticException>(() =>
                CircuitsNative.ForRanges(9, (begin, _) => begin == 0 ? throw new ArithmeticException("range 0") : 0));
            Assert.AreEqual("range 0", thrown.Message);
            // The workers are free again afterwards.
            long sum = 0;
            CircuitsNative.ForRanges(9, (begin, end) =>
            {
                Interlocked.Add(ref sum, end - begin);
                return 0;
            });
            Assert.AreEqual(9, sum);
            return 0;
        });
    }

    [TestMethod]
    [Timeout(60_000)]
    public void ACallMadeInsideARangeRunsWithoutDisturbingTheCallAroundIt()
    {
        // The inner call finds the workers busy (even on the calling thread) and runs through Parallel.For; were it to
        // wait for them instead, a worker's inner call would wait for the caller, which waits for that worker.
        long[] sums = WithThreads(2, () =>
        {
            var totals = new long[3];
            CircuitsNative.ForRanges(10, (begin, end) =>
            {
                Interlocked.Add(ref totals[0], end - begin);
                CircuitsNative.ForRanges(6, (b, e) =>
                {
                    Interlocked.Add(ref totals[1], e - b);
                    return 0;
                });
                Interlocked.Increment(ref totals[2]);
                return 0;
            });
            return totals;
        });
        Assert.AreEqual(10, sums[0], "the outer call's ranges");
        Assert.AreEqual(2, sums[2], "two outer ranges, each ran once");
        Assert.AreEqual(12, sums[1], "each outer range ran the whole inner call");
    }

    [TestMethod]
    public void CallsFromSeveralThreadsAtOnceAllComplete()
    {
        // One call at a time has the workers; the others run through Parallel.For. Each call sums its own ranges.
        long[] sums = WithThreads(2, () =>
        {
            var totals = new long[8];
            Parallel.For(0, totals.Length, new ParallelOptions { MaxDegreeOfParallelism = 4 }, t =>
            {
                for (int call = 0; call < 200; call++)
                    CircuitsNative.ForRanges(100 + t, (begin, end) =>
                    {
                        Interlocked.Add(ref totals[t], end - begin);
                        return 0;
                    });
            });
            return totals;
        });
        for (int t = 0; t < sums.Length; t++) Assert.AreEqual(200L * (100 + t), sums[t], $"caller {t}");
    }
}
