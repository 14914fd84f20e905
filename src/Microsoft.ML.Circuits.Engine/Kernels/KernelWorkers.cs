using System.Diagnostics;

namespace Microsoft.ML.Circuits.Kernels;

/// <summary>
/// The threads <see cref="CircuitsNative.ForRanges"/> runs the native kernels' ranges on: a fork-join of the calling
/// thread and persistent workers that, between calls, spin a short while before they sleep (not at all where the
/// process waits passively, as OpenMP does on a machine busy at start-up). A training step calls
/// ForRanges a few hundred times, each call a fraction of a millisecond; through <c>Parallel.For</c> the thread pool's
/// worker often woke too late — the calling thread had finished its range and taken the other one too, running the
/// call on one thread (16–30 % of the calls of a PD-CP K=16 step, docs/benchmarks.md) — or started tens of microseconds
/// after the caller. A worker here is still spinning when the next call comes (the calls of a pass follow each other
/// within microseconds), and takes its range at once.
/// <para>
/// One call at a time uses the workers; a call that finds them busy (another thread's, or one made from inside a range)
/// runs through <c>Parallel.For</c> as before. Ranges are claimed from a shared counter, so a range a worker has not
/// taken yet is run by the caller: a call never waits for a worker that was not scheduled. The workers are background
/// threads, created on first use, one fewer than the call's ranges.
/// </para>
/// </summary>
internal static class KernelWorkers
{
    /// <summary>
    /// Whether ForRanges uses these workers (true) or <c>Parallel.For</c> (false); null: the workers. For tests and
    /// <c>bench --compare-variant kernel-threads</c>.
    /// </summary>
    internal static bool? Use { get; set; }

    /// <summary>
    /// How long an idle worker spins for the next call before it sleeps: 0.2 ms, or not at all where the process waits
    /// passively (<see cref="ProcessTuning.WaitsPassively"/>: a machine busy at start-up, or <c>OMP_WAIT_POLICY=PASSIVE</c>).
    /// </summary>
    static readonly long SpinTicks = SpinFor(ProcessTuning.WaitsPassively);

    /// <summary>The spin, in <see cref="Stopwatch"/> ticks, for a process that waits passively or not.</summary>
    internal static long SpinFor(bool passive) => passive ? 0 : Stopwatch.Frequency / 5000;

    /// <summary>1 while a call holds the workers. Not a lock: a Monitor would let a call made from inside a range on the
    /// calling thread enter again and replace the running call.</summary>
    static int busy;
    static readonly List<Worker> Workers = [];

    /// <summary>The latest call, published whole: a worker that wakes late and reads an earlier call finds its ranges claimed.</summary>
    static Job? current;

    /// <summary>
    /// Runs <paramref name="run"/> over [0, <paramref name="n"/>) in <paramref name="ranges"/> ranges (≥ 2) on the caller
    /// and the workers, range p being [n·p / ranges, n·(p + 1) / ranges). Returns the first nonzero code a range returned
    /// (0 if none); rethrows the first exception a range threw. Returns false, having run nothing, when the workers are
    /// busy with another call.
    /// </summary>
    public static bool TryRun(long n, int ranges, Func<long, long, int> run, out int result)
    {
        result = 0;
        if (Interlocked.CompareExchange(ref busy, 1, 0) != 0) return false;
        try
        {
            while (Workers.Count < ranges - 1) Workers.Add(new Worker());
            var job = new Job(run, n, ranges);
            Volatile.Write(ref current, job);
            for (int w = 0; w < ranges - 1; w++) Workers[w].Wake();
            job.RunRanges();
            // The ranges the workers claimed are running: wait for them (a spin, then yields).
            var wait = new SpinWait();
            while (Volatile.Read(ref job.Unfinished) > 0) wait.SpinOnce(sleep1Threshold: -1);
            if (job.Failure is { } e) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e).Throw();
            result = job.Code;
            return true;
        }
        finally
        {
            Volatile.Write(ref busy, 0);
        }
    }

    sealed class Job(Func<long, long, int> body, long count, int parts)
    {
        readonly int parts = parts;
        int next;
        public int Unfinished = parts, Code;
        public Exception? Failure;

        /// <summary>Claims and runs ranges of the call until none is left.</summary>
        public void RunRanges()
        {
            for (int p; (p = Interlocked.Increment(ref next) - 1) < parts;)
            {
                try
                {
                    long begin = count * p / parts, end = count * (p + 1) / parts;
                    int result = begin < end ? body(begin, end) : 0;
                    if (result != 0) Interlocked.CompareExchange(ref Code, result, 0);
                }
                catch (Exception e)
                {
                    Interlocked.CompareExchange(ref Failure, e, null);
                }
                finally
                {
                    Interlocked.Decrement(ref Unfinished);
                }
            }
        }
    }

    sealed class Worker
    {
        readonly SemaphoreSlim wake = new(0);
        int sleeping;
        Job? seen;

        public Worker()
        {
            seen = Volatile.Read(ref current);
            new Thread(Loop) { IsBackground = true, Name = "Circuits kernel worker" }.Start();
        }

        /// <summary>Wakes the worker if it sleeps (a spinning worker sees the new call by itself).</summary>
        public void Wake()
        {
            if (Interlocked.Exchange(ref sleeping, 0) == 1) wake.Release();
        }

        void Loop()
        {
            while (true)
            {
                // Spin for the next call, then sleep until a call wakes this worker.
                long start = Stopwatch.GetTimestamp();
                while (Volatile.Read(ref current) == seen && Stopwatch.GetTimestamp() - start < SpinTicks) Thread.SpinWait(20);
                if (Volatile.Read(ref current) == seen)
                {
                    Interlocked.Exchange(ref sleeping, 1);
                    // A call published after this re-check finds sleeping = 1 and releases the semaphore. One published
                    // before it is seen here: then either this worker clears the flag itself (no release comes), or the
                    // caller already cleared it and releases — that release must be taken.
                    if (Volatile.Read(ref current) == seen || Interlocked.Exchange(ref sleeping, 0) == 0) wake.Wait();
                }
                seen = Volatile.Read(ref current);
                seen?.RunRanges();
            }
        }
    }
}
