using System.Globalization;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Postgres;

namespace Cdc.Checkpoint.Torture;

/// <summary>What a crash-torture campaign saw.</summary>
public sealed class CrashTortureReport
{
    /// <summary>SIGKILLs delivered.</summary>
    public int Kills { get; set; }

    /// <summary>Kills that landed before the writer had printed its lease (start-up, lease acquisition, JIT).</summary>
    public int KillsBeforeLease { get; set; }

    /// <summary>Kills that landed between an <c>attempt K</c> and its <c>ack K</c>: inside a save.</summary>
    public int KillsInsideSave { get; set; }

    /// <summary>Kills after which the save in flight had reached the disk (record count = last attempt &gt; last ack).</summary>
    public int InFlightSavesFound { get; set; }

    /// <summary>Kills after which a temp file of the interrupted write was left (removed by the next owner).</summary>
    public int TempFilesLeft { get; set; }

    /// <summary>The most temp files seen in the directory at once.</summary>
    public int MaxTempFiles { get; set; }

    /// <summary>Kills after which a checkpoint log ended in a damaged frame (an interrupted append, ignored by recovery).</summary>
    public int TornTailsFound { get; set; }

    /// <summary>Acknowledged saves over all writers.</summary>
    public long Acks { get; set; }

    /// <summary>The record's count at the end.</summary>
    public ulong FinalCount { get; set; }

    /// <summary>The lease epoch at the end.</summary>
    public long FinalEpoch { get; set; }

    /// <summary>Every broken invariant, with the kill it was seen after; empty when the campaign passed.</summary>
    public List<string> Violations { get; } = [];

    /// <inheritdoc />
    public override string ToString() => string.Create(
        CultureInfo.InvariantCulture,
        $"kills {Kills} (before lease {KillsBeforeLease}, inside a save {KillsInsideSave}), in-flight saves found on disk {InFlightSavesFound}, temp files left by a kill {TempFilesLeft} (max at once {MaxTempFiles}), torn log tails {TornTailsFound}, acks {Acks}, final count {FinalCount}, final epoch {FinalEpoch}, violations {Violations.Count}");
}

/// <summary>
/// Crash torture: starts the harness <c>writer</c> as a real process, SIGKILLs it at a random moment, checks the
/// directory, and repeats. Invariants after every kill: the record parses, is of the current format version and is
/// coherent (its LSN is the one of its count); its count is never behind the last <c>ack</c> printed by any writer and
/// never ahead of the last <c>attempt</c>; it never moves back; at most one temp file exists (the killed write's);
/// the next writer takes the lease by itself (growing epoch), removes that temp file and resumes from the record.
/// The same campaign runs on a <see cref="CheckpointLog"/>: there the record is the newest valid frame of its segment,
/// and a damaged last frame (an interrupted append) is counted, never used.
/// </summary>
public static class CrashTorture
{
    private static readonly TimeSpan LineTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Runs <paramref name="kills"/> kill cycles on <paramref name="directory"/>.</summary>
    /// <param name="directory">The checkpoint directory (created when missing).</param>
    /// <param name="kills">How many kills.</param>
    /// <param name="seed">Seed of the kill moments.</param>
    /// <param name="log">Progress output, or <see langword="null"/>.</param>
    /// <param name="checkpointLog">Torture a <see cref="CheckpointLog"/> (child modes <c>log-writer</c>, <c>log-show</c>) instead of a <see cref="FileCheckpoint"/>.</param>
    /// <param name="cancellationToken">Stops between kills.</param>
    /// <returns>The report.</returns>
    public static async Task<CrashTortureReport> RunAsync(string directory, int kills, int seed, TextWriter? log = null, bool checkpointLog = false, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(kills);
        directory = Path.GetFullPath(directory);
        if (!Directory.Exists(directory))
        {
            Directory.CreateDirectory(directory, DurableFile.PrivateDirectoryMode);
        }

        var random = new Random(seed);
        var report = new CrashTortureReport();
        ulong lastAck = 0;
        ulong lastAttempt = 0;
        ulong lastCount = 0;
        long lastEpoch = 0;
        var codecs = OffsetCodecRegistry.Empty.WithPostgres();

        for (var kill = 1; kill <= kills; kill++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var tempsBefore = TempFiles(directory);
            await using var writer = HarnessChild.Start([checkpointLog ? "log-writer" : "writer", directory]);

            // A fifth of the kills land at a random moment of start-up (runtime start, lease, load); the rest after a
            // random number of acknowledged saves plus a random few milliseconds, which lands most of them in a save.
            var earlyKill = random.Next(5) == 0;
            if (earlyKill)
            {
                await Task.Delay(random.Next(0, 400), cancellationToken);
            }
            else
            {
                await writer.RunOnForAcksAsync(random.Next(0, 13), random, LineTimeout);
            }

            writer.Kill();
            await writer.WaitForExitAsync(cancellationToken);
            report.Kills++;

            // Every line the writer wrote before dying is in the pipe: its facts are complete.
            ulong? start = null;
            long? epoch = null;
            ulong runAttempt = 0;
            ulong runAck = 0;
            foreach (var line in writer.Lines)
            {
                var space = line.IndexOf(' ', StringComparison.Ordinal);
                var word = space < 0 ? line : line[..space];
                var value = space < 0 ? "" : line[(space + 1)..];
                switch (word)
                {
                    case "lease":
                        epoch = long.Parse(value, CultureInfo.InvariantCulture);
                        break;
                    case "start":
                        start = ulong.Parse(value, CultureInfo.InvariantCulture);
                        break;
                    case "attempt":
                        runAttempt = ulong.Parse(value, CultureInfo.InvariantCulture);
                        break;
                    case "ack":
                        runAck = ulong.Parse(value, CultureInfo.InvariantCulture);
                        report.Acks++;
                        break;
                    default:
                        report.Violations.Add($"kill {kill}: the writer printed '{line}' (stderr: {writer.StandardError.Trim()})");
                        break;
                }
            }

            if (writer.ExitCode != 137 && writer.ExitCode != -1)
            {
                // 137 = 128 + SIGKILL. Anything else means the writer ended by itself before the kill.
                report.Violations.Add($"kill {kill}: the writer exited with {writer.ExitCode} before it was killed (stderr: {writer.StandardError.Trim()})");
            }

            if (epoch is null)
            {
                report.KillsBeforeLease++;
            }
            else
            {
                if (epoch <= lastEpoch)
                {
                    report.Violations.Add($"kill {kill}: lease epoch {epoch} did not grow past {lastEpoch}");
                }

                lastEpoch = epoch.Value;
                var stale = tempsBefore.Where(File.Exists).ToList();
                if (stale.Count > 0)
                {
                    report.Violations.Add($"kill {kill}: the writer took the lease but the temp files of the previous kill remain: {string.Join(", ", stale)}");
                }
            }

            if (start is { } s && s != lastCount)
            {
                report.Violations.Add($"kill {kill}: the writer resumed from count {s}, but the record held {lastCount}");
            }

            if (runAttempt > runAck)
            {
                report.KillsInsideSave++;
            }

            lastAck = Math.Max(lastAck, runAck);
            lastAttempt = Math.Max(lastAttempt, runAttempt);

            var temps = TempFiles(directory);
            report.MaxTempFiles = Math.Max(report.MaxTempFiles, temps.Count);
            if (temps.Count > 1)
            {
                report.Violations.Add($"kill {kill}: {temps.Count} temp files accumulated: {string.Join(", ", temps.Select(Path.GetFileName))}");
            }
            else if (temps.Count == 1)
            {
                report.TempFilesLeft++;
            }

            var unexpected = Directory.EnumerateFiles(directory)
                .Select(Path.GetFileName)
                .Where(n => n != (checkpointLog ? CheckpointLog.SegmentFileName : TortureOffsets.RecordFileName) && n != FileCheckpoint.LeaseFileName && !n!.EndsWith(DurableFile.TempSuffix, StringComparison.Ordinal))
                .ToList();
            if (unexpected.Count > 0)
            {
                report.Violations.Add($"kill {kill}: unexpected files in the directory: {string.Join(", ", unexpected)}");
            }

            var count = CheckRecord(directory, codecs, kill, lastAck, Math.Max(lastAttempt, lastCount), report, checkpointLog);
            if (count is { } c)
            {
                if (c < lastCount)
                {
                    report.Violations.Add($"kill {kill}: the record moved back from {lastCount} to {c}");
                }

                if (c > runAck && c == runAttempt)
                {
                    report.InFlightSavesFound++;
                }

                lastCount = c;
            }

            if (kill % 50 == 0 || kill == kills)
            {
                log?.WriteLine($"crash torture: {kill}/{kills} kills, count {lastCount}, {report.Violations.Count} violations");
            }
        }

        // The next owner after the last kill: it takes the lease by itself, removes the leftover temp file, loads the record.
        var show = await HarnessChild.RunAsync([checkpointLog ? "log-show" : "show", directory]);
        var lines = show.Lines;
        var expected = lastCount == 0 && lastAck == 0 ? "none" : $"record {lastCount} {PostgresOffset.FormatLsn(TortureOffsets.LsnFor(lastCount))} v{FileCheckpoint.CurrentFormatVersion}";
        if (show.ExitCode != 0 || lines.Count != 2 || !lines[0].StartsWith("lease ", StringComparison.Ordinal) || lines[1] != expected)
        {
            report.Violations.Add($"final owner: expected 'lease E' and '{expected}', got exit {show.ExitCode}: {string.Join(" | ", lines)} {show.StandardError.Trim()}");
        }
        else
        {
            report.FinalEpoch = long.Parse(lines[0]["lease ".Length..], CultureInfo.InvariantCulture);
            if (report.FinalEpoch <= lastEpoch)
            {
                report.Violations.Add($"final owner: lease epoch {report.FinalEpoch} did not grow past {lastEpoch}");
            }
        }

        if (TempFiles(directory) is { Count: > 0 } left)
        {
            report.Violations.Add($"final owner: temp files remain after it took the lease: {string.Join(", ", left)}");
        }

        report.FinalCount = lastCount;
        return report;
    }

    private static ulong? CheckRecord(string directory, OffsetCodecRegistry codecs, int kill, ulong lastAck, ulong lastAttempt, CrashTortureReport report, bool checkpointLog)
    {
        var path = Path.Combine(directory, checkpointLog ? CheckpointLog.SegmentFileName : TortureOffsets.RecordFileName);
        byte[]? bytes;
        try
        {
            bytes = DurableFile.ReadPrivate(path, checkpointLog ? CheckpointLogOptions.MaxSegmentBytes : 1024 * 1024);
        }
        catch (CheckpointException ex)
        {
            report.Violations.Add($"kill {kill}: the record cannot be read: {ex.Message}");
            return null;
        }

        if (bytes is null)
        {
            if (lastAck > 0)
            {
                report.Violations.Add($"kill {kill}: no record, but save {lastAck} was acknowledged");
            }

            return null;
        }

        CheckpointRecord? record;
        try
        {
            if (checkpointLog)
            {
                var contents = LogSegment.Read(bytes, path, codecs, TortureOffsets.LogOptions().MaxRecordBytes);
                report.TornTailsFound += contents.TornTail is null ? 0 : 1;
                contents.Latest.TryGetValue(TortureOffsets.SourceType, out record);
                if (record is null)
                {
                    if (lastAck > 0)
                    {
                        report.Violations.Add($"kill {kill}: the log holds no record, but save {lastAck} was acknowledged");
                    }

                    return null;
                }
            }
            else
            {
                record = CheckpointRecordFile.Parse(bytes, path, codecs);
            }
        }
        catch (CheckpointException ex)
        {
            report.Violations.Add($"kill {kill}: the record does not parse: {ex.Message}");
            return null;
        }

        if (record.FormatVersion != FileCheckpoint.CurrentFormatVersion)
        {
            report.Violations.Add($"kill {kill}: the record has format version {record.FormatVersion}, not {FileCheckpoint.CurrentFormatVersion}");
        }

        var count = record.CommittedEventCount;
        if (count < lastAck)
        {
            report.Violations.Add($"kill {kill}: the record's count {count} is behind the last acknowledged save {lastAck}");
        }

        if (count > lastAttempt)
        {
            report.Violations.Add($"kill {kill}: the record's count {count} is ahead of the last attempted save {lastAttempt}");
        }

        if (record.Offset is not PostgresOffset offset || !offset.Equals(TortureOffsets.At(count)))
        {
            report.Violations.Add($"kill {kill}: the record's offset {record.Offset} is not the one saved with count {count} ({TortureOffsets.At(count)})");
        }

        return count;
    }

    private static List<string> TempFiles(string directory) =>
        Directory.Exists(directory) ? [.. Directory.EnumerateFiles(directory, "*" + DurableFile.TempSuffix)] : [];
}
