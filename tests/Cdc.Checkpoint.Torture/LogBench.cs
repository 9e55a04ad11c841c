using System.Diagnostics;
using System.Globalization;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Postgres;

namespace Cdc.Checkpoint.Torture;

/// <summary>
/// The benchmark behind the log row of eng/bench.sh (docs/BENCHMARKS.md): <see cref="CheckpointLog"/> saves against
/// both limits, the C durable replace (what a rename-mode save costs at best) and the C append + fdatasync loop (what a
/// log save costs at best), in interleaved blocks of ten inside one process so that all three see the same disk at the
/// same moments.
/// </summary>
public static class LogBench
{
    /// <summary>Times <paramref name="operations"/> operations of each of the three kinds.</summary>
    /// <param name="dir">A directory on the disk to measure; <c>log/</c>, <c>limit/</c> and <c>append/</c> are created in it.</param>
    /// <param name="operations">Timed operations of each kind.</param>
    /// <param name="limitProgram">The compiled bench/limit/durable_replace.c.</param>
    /// <param name="appendLimitProgram">The compiled bench/limit/append_fdatasync.c.</param>
    /// <returns>The exit code.</returns>
    /// <remarks>
    /// The log uses its default options (1 MiB segment). Its first save, in the warm-up, writes the segment; the warm-up
    /// lasts at least a second (<see cref="ChildModes.WarmUpAsync"/>), so the timed saves run the runtime's optimised code; a
    /// compaction in the timed blocks is counted in the saves and reported as <c>log_compactions N</c>. Both limits
    /// write the log's frame length per operation. Lines: <c>log_limit …</c>, <c>append_limit …</c>, <c>log_saves …</c>.
    /// </remarks>
    public static async Task<int> PairedAsync(string dir, int operations, string limitProgram, string appendLimitProgram)
    {
        const int Block = 10;
        ArgumentOutOfRangeException.ThrowIfLessThan(operations, 1);
        Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        using var log = new CheckpointLog(Path.Combine(dir, "log"), new CheckpointLogOptions { Codecs = OffsetCodecRegistry.Empty.WithPostgres(), CreateDirectory = true });
        var count = await log.GetCommittedCountAsync();
        var warmup = Math.Max(20, operations / 10);
        count = await ChildModes.WarmUpAsync(log, count, warmup);

        var segmentPath = Path.Combine(log.DirectoryPath, CheckpointLog.SegmentFileName);
        var before = Contents(segmentPath);
        var frameBytes = before.Frames[^1].Length;
        using var limit = ChildModes.StartLimit(limitProgram, Path.Combine(dir, "limit"), frameBytes);
        using var append = ChildModes.StartLimit(appendLimitProgram, Path.Combine(dir, "append"), frameBytes);
        _ = await ChildModes.LimitBlockAsync(limit, warmup);
        _ = await ChildModes.LimitBlockAsync(append, warmup);

        var saves = new List<double>(operations);
        var limits = new List<double>(operations);
        var appends = new List<double>(operations);
        for (var block = 0; saves.Count < operations; block++)
        {
            var n = Math.Min(Block, operations - saves.Count);

            // Rotate the order of the three kinds block by block, so none always runs after the same neighbour.
            for (var turn = 0; turn < 3; turn++)
            {
                switch ((block + turn) % 3)
                {
                    case 0:
                        limits.AddRange(await ChildModes.LimitBlockAsync(limit, n));
                        break;
                    case 1:
                        appends.AddRange(await ChildModes.LimitBlockAsync(append, n));
                        break;
                    default:
                        for (var i = 0; i < n; i++)
                        {
                            count++;
                            var offset = TortureOffsets.At(count);
                            var started = Stopwatch.GetTimestamp();
                            await log.SaveAsync(offset, count);
                            saves.Add(Stopwatch.GetElapsedTime(started).TotalMicroseconds);
                        }

                        break;
                }
            }
        }

        foreach (var program in new[] { limit, append })
        {
            program.StandardInput.Close();
            await program.WaitForExitAsync();
        }

        var after = Contents(segmentPath);
        ChildModes.Out(ChildModes.Summary("log_limit", [.. limits], frameBytes));
        ChildModes.Out(ChildModes.Summary("append_limit", [.. appends], frameBytes));
        ChildModes.Out(ChildModes.Summary("log_saves", [.. saves], frameBytes));
        ChildModes.Out(string.Create(CultureInfo.InvariantCulture, $"log_compactions {after.SegmentId - before.SegmentId}"));
        return 0;
    }

    private static LogSegmentContents Contents(string segmentPath) =>
        LogSegment.Read(DurableFile.ReadPrivate(segmentPath, CheckpointLogOptions.MaxSegmentBytes)!, segmentPath, OffsetCodecRegistry.Empty.WithPostgres(), 64 * 1024);
}
