using System.CommandLine;
using Cdc.Checkpoint.Cli.Output;
using Cdc.Checkpoint.Cli.Reading;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Leasing;

namespace Cdc.Checkpoint.Cli.Commands;

/// <summary><c>verify DIR [--json]</c>: every check a consumer's start depends on, read-only; exit 0 only when all is well.</summary>
internal static class VerifyCommand
{
    private const string AuditLogFileName = FileCheckpoint.AuditLogFileName;
    private const string RustcdcOwnerFileName = CheckpointFileNames.RustcdcOwnerFileName;

    public static Command Create(Terminal terminal) => CommonOptions.DirectoryOrTableCommand(
        "verify",
        "Check a checkpoint directory: record format versions and checksums, permissions (files 0600, directory not writable by group or other), one source family, "
            + "the lease file, leftover temp files and symbolic links. Exits 0 only when all is well and lists every problem otherwise. Read-only.",
        (directory, json) => Run(terminal, directory, json),
        (table, parseResult, json, cancellationToken) => TableCommands.VerifyAsync(terminal, table, parseResult, json, cancellationToken));

    private static int Run(Terminal terminal, string directory, bool json)
    {
        if (CheckpointLogCli.TryRun(terminal, directory, json, verify: true) is { } logExit)
        {
            return logExit;
        }

        var scan = CheckpointDirectoryScan.Read(directory);
        var report = Check(scan);
        if (json)
        {
            CommonOptions.WriteJson(terminal, report, CliJsonContext.Default.VerifyReport);
        }
        else
        {
            foreach (var note in report.Notes)
            {
                terminal.Line($"note: {note.Message}");
            }

            foreach (var problem in report.Problems)
            {
                terminal.Line($"PROBLEM: {problem.Message}");
            }

            terminal.Line(report.Ok
                ? $"OK: {scan.DirectoryPath} is a healthy checkpoint directory ({scan.Records.Count} record(s))."
                : $"{report.Problems.Count} problem(s) in {scan.DirectoryPath}.");
        }

        return report.Ok ? ExitCodes.Success : ExitCodes.RefusedOrInvalid;
    }

    internal static VerifyReport Check(CheckpointDirectoryScan scan)
    {
        var problems = new List<FindingReport>();
        var notes = new List<FindingReport>();
        void Problem(string? path, string message) => problems.Add(new FindingReport { Path = path, Message = message });
        void Note(string? path, string message) => notes.Add(new FindingReport { Path = path, Message = message });

        var dir = scan.DirectoryPath;
        if (scan.DirectoryLinkTarget is { } dirTarget)
        {
            Note(dir, $"'{dir}' is a symbolic link to '{dirTarget}'; the checks below are of its target.");
        }

        if (FileModes.IsGroupOrOtherWritable(scan.DirectoryMode))
        {
            Problem(dir, $"Directory '{dir}' has mode {FileModes.Format(scan.DirectoryMode)}: group or other users can create, replace or delete records in it. Run: chmod 700 '{dir}'");
        }
        else if (FileModes.IsGroupOrOtherAccessible(scan.DirectoryMode))
        {
            Note(dir, $"Directory '{dir}' has mode {FileModes.Format(scan.DirectoryMode)}; the library creates checkpoint directories 0700.");
        }

        foreach (var record in scan.Records)
        {
            if (record.Problem is { } error)
            {
                Problem(record.Path, error.Message);
            }
            else if (LegacyValues.Describe(record.Record!) is { } warning)
            {
                Note(record.Path, $"'{record.Path}': {warning}");
            }

            if (record.Record is { } readable && readable.FormatVersion < FileCheckpoint.CurrentFormatVersion)
            {
                var origin = readable.FormatVersion == 1 ? " (rustcdc)" : string.Empty;
                Note(record.Path, $"'{record.Path}' is format version {readable.FormatVersion}{origin}, which carries no checksum: damage that leaves valid JSON would go unnoticed. It is read as it is; `cdc-checkpoint migrate '{dir}'` upgrades it to version {FileCheckpoint.CurrentFormatVersion} (CRC-32C) and keeps a backup.");
            }
        }

        if (scan.MixedFamiliesError is { } mixed)
        {
            Problem(dir, mixed.Message);
        }

        foreach (var entry in scan.OtherEntries)
        {
            CheckOtherEntry(entry, Problem, Note);
        }

        CheckLease(scan, Problem, Note);
        return new VerifyReport { Directory = dir, Ok = problems.Count == 0, Problems = problems, Notes = notes };
    }

    private static void CheckOtherEntry(FileSystemInfo entry, Action<string?, string> problem, Action<string?, string> note)
    {
        var path = entry.FullName;
        var name = entry.Name;
        if (entry.LinkTarget is { } target)
        {
            problem(path, $"'{path}' is a symbolic link (to '{target}'); checkpoint files are never read through links. Replace it with the real file or remove it.");
            return;
        }

        if (name.EndsWith(CheckpointFileNames.TempFileSuffix, StringComparison.Ordinal))
        {
            problem(path, $"'{path}' is a leftover temp file of an interrupted write; it is never read. Remove it (the next owner of the directory removes checkpoint_*.tmp files too).");
            return;
        }

        if (entry is DirectoryInfo)
        {
            note(path, $"'{path}' is a directory; Cdc.Checkpoint does not use it.");
            return;
        }

        var ours = name is FileCheckpoint.LeaseFileName or AuditLogFileName or RustcdcOwnerFileName
            || (name.StartsWith("checkpoint_", StringComparison.Ordinal) && name.EndsWith(".bak", StringComparison.Ordinal));
        if (!ours)
        {
            if (name.StartsWith("checkpoint_", StringComparison.Ordinal) && name.EndsWith(".json", StringComparison.Ordinal))
            {
                problem(path, $"'{path}' looks like a record but its name is not checkpoint_<source type>.json with a valid source type ([a-z][a-z0-9_]{{0,63}}), so no consumer will ever read it. Rename it or move it out.");
            }
            else
            {
                note(path, $"'{path}' is not a Cdc.Checkpoint file; it is ignored.");
            }

            return;
        }

        if (name == RustcdcOwnerFileName)
        {
            return; // described with the lease
        }

        var mode = entry.UnixFileMode;
        if (FileModes.IsGroupOrOtherAccessible(mode))
        {
            var consequence = name == FileCheckpoint.LeaseFileName ? " Writers refuse to take an insecure lease." : string.Empty;
            problem(path, $"'{path}' has insecure permissions {FileModes.Format(mode)}; it must not be readable or writable by group or other users.{consequence} Run: chmod 600 '{path}'");
        }
    }

    private static void CheckLease(CheckpointDirectoryScan scan, Action<string?, string> problem, Action<string?, string> note)
    {
        var leasePath = Path.Combine(scan.DirectoryPath, FileCheckpoint.LeaseFileName);
        if (scan.LeaseError is { } error)
        {
            problem(leasePath, error.Message);
            return;
        }

        var status = scan.Lease!;
        if (status.State == LeaseState.Free && status.Owner is null && new FileInfo(leasePath).Length > 0)
        {
            problem(leasePath, $"Lease file '{leasePath}' does not hold a valid owner record; the next owner rewrites it. Remove it if no process uses the directory.");
        }
        else
        {
            note(leasePath, $"Lease: {LeaseText.Describe(status)}.");
        }

        if (LeaseText.HolderNote(status) is { } holderNote)
        {
            note(leasePath, $"Lease: {holderNote}.");
        }

        if (LeaseText.DescribeRustcdcOwner(status) is { } rustcdc)
        {
            note(Path.Combine(scan.DirectoryPath, RustcdcOwnerFileName), $"{char.ToUpperInvariant(rustcdc[0])}{rustcdc[1..]}.");
        }
    }
}
