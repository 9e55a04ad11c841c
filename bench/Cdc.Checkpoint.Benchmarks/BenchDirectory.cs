namespace Cdc.Checkpoint.Benchmarks;

/// <summary>Where file benchmarks write: <c>BENCH_SAVE_DIR</c>, else <c>/dev/shm</c> when writable (fsync nearly free), else the temp directory.</summary>
internal static class BenchDirectory
{
    public static string Fast()
    {
        if (Environment.GetEnvironmentVariable("BENCH_SAVE_DIR") is { Length: > 0 } configured)
        {
            return configured;
        }

        return IsWritable("/dev/shm") ? "/dev/shm" : Path.GetTempPath();
    }

    private static bool IsWritable(string directory)
    {
        if (!Directory.Exists(directory))
        {
            return false;
        }

        var probe = Path.Combine(directory, "cdc-bench-probe-" + Guid.NewGuid().ToString("N"));
        try
        {
            Directory.CreateDirectory(probe);
            Directory.Delete(probe);
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}
