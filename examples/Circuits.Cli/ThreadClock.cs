using System.Runtime.InteropServices;

namespace Circuits.Cli;

/// <summary>
/// CPU time of the calling thread (Linux: <c>CLOCK_THREAD_CPUTIME_ID</c>), which leaves out the time the thread was
/// descheduled: on a shared machine with one TorchSharp thread (all the work on the calling thread) it measures the
/// work, where wall-clock time also measures the neighbours. Null where the clock is not available.
/// </summary>
internal static class ThreadClock
{
    const int ThreadCpuTimeId = 3;

    [StructLayout(LayoutKind.Sequential)]
    struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [DllImport("libc", EntryPoint = "clock_gettime")]
    static extern int ClockGetTime(int clock, out TimeSpec time);

    /// <summary>The calling thread's CPU time in milliseconds, or null (not Linux, or the call failed).</summary>
    public static double? NowMs()
    {
        if (!OperatingSystem.IsLinux()) return null;
        try
        {
            return ClockGetTime(ThreadCpuTimeId, out var t) == 0 ? t.Seconds * 1e3 + t.Nanoseconds / 1e6 : null;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
    }
}
