using System.Globalization;
using System.Text.Json;
using Cdc.Checkpoint.Cli.Commands;
using Cdc.Checkpoint.Cli.Output;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Leasing;

namespace Cdc.Checkpoint.Cli.Reading;

/// <summary>
/// <c>inspect</c> and <c>verify</c> of a directory that holds a checkpoint log (<see cref="CheckpointLog.SegmentFileName"/>,
/// docs/checkpoint-log-format.md): read through the library's public <see cref="CheckpointLog.ReadAsync"/>, without the lease.
/// </summary>
internal static class CheckpointLogCli
{
    /// <summary>Runs inspect or verify on <paramref name="directory"/> when it holds a checkpoint log.</summary>
    /// <returns>The exit code, or <see langword="null"/> when the directory has no log (the record-file path applies).</returns>
    public static int? TryRun(Terminal terminal, string directory, bool json, bool verify)
    {
        var full = Path.GetFullPath(directory);
        if (!Directory.Exists(full) || !Path.Exists(Path.Combine(full, CheckpointLog.SegmentFileName)))
        {
            return null;
        }

        CheckpointLogContents? contents = null;
        var problems = new List<string>();
        var notes = new List<string>();
        try
        {
            contents = CheckpointLog.ReadAsync(full, CheckpointDirectoryScan.Codecs).AsTask().GetAwaiter().GetResult();
        }
        catch (CheckpointException ex)
        {
            problems.Add($"{ex.ErrorCode}: {ex.Message}");
        }

        LeaseStatus? lease = null;
        CheckpointException? leaseError = null;
        try
        {
            lease = FileCheckpoint.GetLeaseStatus(full);
        }
        catch (CheckpointException ex)
        {
            leaseError = ex;
            problems.Add($"{ex.ErrorCode}: {ex.Message}");
        }

        var directoryMode = File.GetUnixFileMode(full);
        if (FileModes.IsGroupOrOtherWritable(directoryMode))
        {
            problems.Add($"Directory '{full}' has mode {FileModes.Format(directoryMode)}: group or other users can replace or delete the log. Run: chmod 700 '{full}'");
        }

        var recordFiles = Directory.EnumerateFileSystemEntries(full, "checkpoint_*.json").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        if (recordFiles.Count > 0)
        {
            problems.Add($"'{full}' holds a checkpoint log and record files of a FileCheckpoint ({string.Join(", ", recordFiles)}); a CheckpointLog refuses such a directory. Move the record files to a directory of their own.");
        }

        if (contents?.TornTailPosition is { } torn)
        {
            notes.Add($"The segment ends in a damaged frame at byte {torn} ({contents.TornTailReason}): a save interrupted before it was acknowledged. Recovery ignores it and the next save starts a fresh segment.");
        }

        foreach (var temp in Directory.EnumerateFiles(full, "*.tmp").Order(StringComparer.Ordinal))
        {
            notes.Add($"Leftover temp file '{temp}' of an interrupted write; the next owner removes it when it takes the lease.");
        }

        var leaseReport = LeaseCommand.BuildReport(lease, leaseError);
        if (json)
        {
            WriteJson(terminal, full, contents, leaseReport, problems, notes, verify);
        }
        else
        {
            Render(terminal, full, contents, leaseReport, problems, notes, verify);
        }

        return problems.Count == 0 ? ExitCodes.Success : ExitCodes.RefusedOrInvalid;
    }

    private static void Render(Terminal terminal, string directory, CheckpointLogContents? contents, LeaseReport lease, List<string> problems, List<string> notes, bool verify)
    {
        terminal.Line($"Checkpoint log directory {directory}");
        terminal.Line($"Lease: {lease.Summary}");
        if (contents is not null)
        {
            terminal.Line(string.Create(CultureInfo.InvariantCulture, $"Segment {contents.SegmentPath}: format version {contents.FormatVersion}, segment id {contents.SegmentId}, {contents.SegmentBytes} bytes{(contents.Mode is { } mode ? $" (mode {FileModes.Format(mode)})" : "")}, {contents.FrameCount} valid frame(s) ending at byte {contents.Tail}"));
            foreach (var record in contents.Records)
            {
                terminal.Line(string.Create(CultureInfo.InvariantCulture, $"  {record.SourceType}: count {record.CommittedEventCount}, sequence {record.Sequence}, saved at {record.SavedAt:O}, offset {record.Offset}{(ReferenceEquals(record, contents.Latest) ? " (latest)" : "")}"));
            }

            if (contents.Records.Count == 0)
            {
                terminal.Line("  No records: a consumer would start this source afresh.");
            }
        }

        foreach (var note in notes)
        {
            terminal.Line($"note: {note}");
        }

        foreach (var problem in problems)
        {
            terminal.Line($"PROBLEM: {problem}");
        }

        if (verify)
        {
            terminal.Line(problems.Count == 0
                ? $"OK: {directory} is a healthy checkpoint log directory ({contents?.Records.Count ?? 0} record(s))."
                : $"{problems.Count} problem(s) in {directory}.");
        }
    }

    private static void WriteJson(Terminal terminal, string directory, CheckpointLogContents? contents, LeaseReport lease, List<string> problems, List<string> notes, bool verify)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            writer.WriteStartObject();
            writer.WriteString("directory", directory);
            writer.WriteString("kind", "checkpoint_log");
            if (verify)
            {
                writer.WriteBoolean("ok", problems.Count == 0);
            }

            writer.WriteString("lease", lease.Summary);
            if (contents is not null)
            {
                writer.WriteStartObject("segment");
                writer.WriteString("path", contents.SegmentPath);
                writer.WriteNumber("format_version", contents.FormatVersion);
                writer.WriteNumber("segment_id", contents.SegmentId);
                writer.WriteNumber("bytes", contents.SegmentBytes);
                writer.WriteNumber("frames", contents.FrameCount);
                writer.WriteNumber("tail", contents.Tail);
                if (contents.TornTailPosition is { } torn)
                {
                    writer.WriteNumber("torn_tail_at", torn);
                }

                writer.WriteEndObject();
                writer.WriteStartArray("records");
                foreach (var record in contents.Records)
                {
                    writer.WriteStartObject();
                    writer.WriteString("source_type", record.SourceType);
                    writer.WriteNumber("committed_event_count", record.CommittedEventCount);
                    writer.WriteNumber("sequence", record.Sequence);
                    if (record.SavedAt is { } savedAt)
                    {
                        writer.WriteString("saved_at", savedAt);
                    }

                    writer.WriteString("offset", record.Offset.ToString());
                    writer.WritePropertyName("offset_json");
                    record.Offset.ToJsonElement().WriteTo(writer);
                    writer.WriteEndObject();
                }

                writer.WriteEndArray();
            }

            WriteStrings(writer, "problems", problems);
            WriteStrings(writer, "notes", notes);
            writer.WriteEndObject();
        }

        terminal.Output.Write(System.Text.Encoding.UTF8.GetString(stream.ToArray()));
        terminal.Output.WriteLine();
        terminal.Output.Flush();
    }

    private static void WriteStrings(Utf8JsonWriter writer, string name, List<string> values)
    {
        writer.WriteStartArray(name);
        foreach (var value in values)
        {
            writer.WriteStringValue(value);
        }

        writer.WriteEndArray();
    }
}
