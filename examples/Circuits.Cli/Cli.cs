namespace Circuits.Cli;

/// <summary>Runs a command body and turns expected failures into a one-line error and an exit code.</summary>
internal static class Cli
{
    /// <summary>Exit code for bad options or input.</summary>
    public const int UsageError = 2;

    /// <summary>Exit code for failures while running (I/O, corrupt files, numerical problems).</summary>
    public const int RuntimeError = 1;

    // Library option names → the command-line flags that set them.
    static readonly Dictionary<string, string> Flags = new(StringComparer.Ordinal)
    {
        ["Units"] = "--k", ["InputUnits"] = "--k-in", ["Rank"] = "--rank", ["rank"] = "--rank", ["ImageHeight"] = "--image-size",
        ["ImageWidth"] = "--image-size", ["Channels"] = "--channels", ["PoonDomingosDelta"] = "--pd-delta", ["delta"] = "--pd-delta",
        ["Replicas"] = "--num-replica", ["layer"] = "--layer",
    };

    /// <summary>Exit code after Ctrl+C (128 + SIGINT), as shells expect.</summary>
    public const int Interrupted = 130;

    static readonly Lazy<CancellationTokenSource> interrupt = new(() =>
    {
        var source = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            if (source.IsCancellationRequested) return; // a second Ctrl+C ends the process at once
            e.Cancel = true;
            source.Cancel();
            Console.Error.WriteLine("interrupt: stopping after the current step and keeping the best checkpoint (Ctrl+C again to quit at once)");
        };
        return source;
    });

    /// <summary>Cancelled by the first Ctrl+C: long work stops at its next step and keeps what it has.</summary>
    public static CancellationToken Interrupt => interrupt.Value.Token;

    public static int Run(Action body)
    {
        try
        {
            body();
            return 0;
        }
        catch (Exception e) when (Microsoft.ML.Circuits.CircuitMemory.IsOutOfMemory(e))
        {
            Console.Error.WriteLine($"error: {Memory.OutOfMemoryMessage(e)}");
            return RuntimeError;
        }
        catch (OperationCanceledException e)
        {
            Console.Error.WriteLine(e.Message);
            return Interrupted;
        }
        catch (ArgumentException e)
        {
            string flag = e.ParamName is { } name && Flags.TryGetValue(name, out var f) ? $" [{f}]" : "";
            Console.Error.WriteLine($"error: {InFlags(Plain(e))}{flag}");
            return UsageError;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException or InvalidOperationException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return RuntimeError;
        }
        catch (System.Runtime.InteropServices.ExternalException e)
        {
            // Any other libtorch failure: its first line, not the native stack trace that follows it.
            Console.Error.WriteLine($"error: libtorch failed: {Microsoft.ML.Circuits.CircuitMemory.FirstLine(e)}");
            return RuntimeError;
        }
    }

    /// <summary>
    /// A library message in the command line's words: <c>LearningRate = -1 is not allowed</c> becomes
    /// <c>--lr -1 is not allowed</c>, and a trainer option named elsewhere in the message becomes its flag.
    /// </summary>
    public static string InFlags(string message)
    {
        foreach (var (property, flag) in TrainingOptions.OptionFlags)
        {
            message = System.Text.RegularExpressions.Regex.Replace(message, $@"\b{property} = ", flag + " ");
            message = System.Text.RegularExpressions.Regex.Replace(message, $@"\b{property}\b", flag);
        }
        return message;
    }

    /// <summary>An argument exception's message without .NET's "(Parameter 'x')" and "Actual value was" suffixes.</summary>
    public static string Plain(ArgumentException e)
    {
        string message = e.Message;
        int cut = message.IndexOf(" (Parameter '", StringComparison.Ordinal);
        return cut >= 0 ? message[..cut] : message.Split('\n')[0];
    }
}
