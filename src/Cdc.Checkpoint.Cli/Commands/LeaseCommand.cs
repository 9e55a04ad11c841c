using System.CommandLine;
using System.Globalization;
using Cdc.Checkpoint.Cli.Output;
using Cdc.Checkpoint.Cli.Reading;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Leasing;

namespace Cdc.Checkpoint.Cli.Commands;

/// <summary><c>lease DIR [--json]</c>: who owns a checkpoint directory, probed without taking the lease.</summary>
internal static class LeaseCommand
{
    public static Command Create(Terminal terminal) => CommonOptions.DirectoryOrTableCommand(
        "lease",
        "Show the owner of a checkpoint directory (host, pid, since, epoch) or that the lease is free or stale. Read-only: the lease is probed, never taken.",
        (directory, json) => Run(terminal, directory, json),
        (table, parseResult, json, cancellationToken) => TableCommands.LeaseAsync(terminal, table, parseResult, json, cancellationToken));

    private static int Run(Terminal terminal, string directory, bool json)
    {
        // The reader refuses a missing directory with the library's message, and probes the lease without taking it.
        var contents = CheckpointDirectoryReader.ReadAsync(directory).AsTask().GetAwaiter().GetResult();
        var full = contents.DirectoryPath;
        var status = contents.Lease ?? throw contents.LeaseProblem!;
        var report = BuildReport(status, null);

        if (json)
        {
            CommonOptions.WriteJson(terminal, report, CliJsonContext.Default.LeaseReport);
        }
        else
        {
            terminal.Line($"Lease of {full}: {report.Summary}");
            if (report.Owner() is { } owner)
            {
                terminal.Line($"  host               {owner.Host}");
                terminal.Line($"  pid                {owner.Pid}");
                terminal.Line($"  since              {owner.AcquiredAt}");
                terminal.Line($"  epoch              {owner.Epoch}");
                terminal.Line($"  process start time {owner.ProcessStartTime} (clock ticks after boot)");
            }

            if (report.Note is { } note)
            {
                terminal.Line($"  note: {note}");
            }

            if (report.RustcdcOwner is not null)
            {
                terminal.Line($"  {LeaseText.DescribeRustcdcOwner(status)}");
            }
        }

        return ExitCodes.Success;
    }

    internal static LeaseReport BuildReport(LeaseStatus? status, CheckpointException? error)
    {
        if (status is null)
        {
            return new LeaseReport
            {
                State = "unknown",
                Summary = $"cannot be probed: {error?.Message}",
                Error = error?.Message,
            };
        }

        var owner = status.Owner;
        return new LeaseReport
        {
            State = LeaseText.StateName(status.State),
            Summary = LeaseText.Describe(status),
            Host = owner?.Host,
            Pid = owner?.ProcessId,
            ProcessStartTime = owner?.ProcessStartTime,
            AcquiredAt = owner?.AcquiredAt,
            Epoch = owner?.Epoch,
            RustcdcOwner = status.RustcdcOwner,
            Note = LeaseText.HolderNote(status),
        };
    }

    private static (string Host, string Pid, string AcquiredAt, string Epoch, string ProcessStartTime)? Owner(this LeaseReport report) =>
        report.Host is null
            ? null
            : (report.Host,
               report.Pid?.ToString(CultureInfo.InvariantCulture) ?? "?",
               report.AcquiredAt?.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture) ?? "?",
               report.Epoch?.ToString(CultureInfo.InvariantCulture) ?? "?",
               report.ProcessStartTime?.ToString(CultureInfo.InvariantCulture) ?? "?");
}
