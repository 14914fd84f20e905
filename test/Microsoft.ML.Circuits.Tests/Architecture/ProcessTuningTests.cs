using System.Runtime.InteropServices;

namespace Microsoft.ML.Circuits.Tests.Architecture;

/// <summary>The engine's process-wide runtime settings on Linux (ProcessTuning), applied when the engine loads.</summary>
[TestClass]
public sealed class ProcessTuningTests
{
    [DllImport("libc", EntryPoint = "getenv")]
    static extern IntPtr getenv([MarshalAs(UnmanagedType.LPUTF8Str)] string name);

    [TestMethod]
    public void TheEngineTunesMallocAndMakesOpenMpWaitPassivelyUnlessTurnedOff()
    {
        if (!OperatingSystem.IsLinux()) Assert.Inconclusive("The tuning applies to Linux only.");
        _ = new CircuitDescription(); // the engine is loaded, so its module initializer has run
        if (Environment.GetEnvironmentVariable(ProcessTuning.Switch) == "0")
        {
            StringAssert.StartsWith(ProcessTuning.Applied, "off");
            return;
        }
        StringAssert.Contains(ProcessTuning.Applied, "malloc keeps freed memory");
        // The variable must be visible to native code (libgomp reads it with getenv), not only to .NET.
        var value = Marshal.PtrToStringUTF8(getenv("OMP_WAIT_POLICY"));
        Assert.IsNotNull(value, "OMP_WAIT_POLICY is not set in the native environment");
        if (ProcessTuning.Applied.Contains("OMP_WAIT_POLICY")) Assert.AreEqual("PASSIVE", value);
    }
}
