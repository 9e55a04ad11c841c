using System.CommandLine;
using Cdc.Checkpoint.Cli.Output;
using Cdc.Checkpoint.Cli.Reading;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint.Cli.Commands;

/// <summary><c>rewind DIR --source … --count N --reason TEXT</c>: the only way back; audited.</summary>
internal static class RewindCommand
{
    public static Command Create(Terminal terminal)
    {
        var directory = CommonOptions.DirectoryOrTable();
        var table = new TableOptions();
        var offsets = new OffsetOptions();
        var reason = new Option<string>("--reason")
        {
            Description = "Why the checkpoint moves back; recorded in the audit log with the time, user, host and both positions.",
            HelpName = "TEXT",
            Required = true,
        };
        var command = new Command(
            "rewind",
            "Move an existing record to another offset and count, bypassing the progress guards: the only way to move a checkpoint backwards (or onto another slot or server). "
            + "An audit line (time, user, host, old -> new, reason) is appended to checkpoint-audit.log before the record changes. Takes the owner lease.")
        {
            directory,
            reason,
        };
        offsets.AddTo(command);
        command.Validators.Add(result =>
        {
            if (result.GetValue(reason) is { } text && string.IsNullOrWhiteSpace(text))
            {
                result.AddError("--reason must say why the checkpoint is rewound; it is kept in the audit log.");
            }
        });
        table.AddTo(command);
        table.RequireDirectoryOrTable(command, directory);
        command.SetAction((parseResult, cancellationToken) => parseResult.GetValue(directory) is null
            ? TableCommands.RewindAsync(terminal, table, parseResult, offsets.Read(parseResult), parseResult.GetValue(offsets.Count), parseResult.GetRequiredValue(reason), cancellationToken)
            : RunAsync(
            terminal,
            parseResult.GetValue(directory)!,
            offsets.Read(parseResult),
            parseResult.GetValue(offsets.Count),
            parseResult.GetRequiredValue(reason),
            cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(Terminal terminal, string directory, OffsetInput input, ulong count, string reason, CancellationToken cancellationToken)
    {
        var offset = OffsetOptions.Build(input);
        var scan = CheckpointDirectoryScan.Read(directory);
        MutationGuard.EnsureWritable(scan, "rewind");
        MutationGuard.EnsureFamily(scan, offset, "rewind");
        var path = Path.Combine(scan.DirectoryPath, CheckpointFileNames.ForRecord(offset.SourceType));
        var existing = scan.ReadableRecords.FirstOrDefault(r => r.SourceType == offset.SourceType)
            ?? throw MutationGuard.Refusal(
                CheckpointErrorCode.DirectoryNotFound,
                path,
                $"Refusing to rewind: there is no {offset.SourceType} record in '{scan.DirectoryPath}' ('{path}' does not exist), so there is nothing to move back. Use `cdc-checkpoint seed` to create one.");

        if (existing.CommittedEventCount == count && existing.Offset.Equals(offset))
        {
            terminal.Line($"{path} already holds {offset} (count {count}); nothing was written and nothing was audited.");
            return ExitCodes.Success;
        }

        var order = offset.CompareTo(existing.Offset);
        var checkpoint = new FileCheckpoint(scan.DirectoryPath, new FileCheckpointOptions { Codecs = CheckpointDirectoryScan.Codecs });
        await using (checkpoint.ConfigureAwait(false))
        {
            await checkpoint.RewindAsync(offset, count, reason, cancellationToken).ConfigureAwait(false);
        }

        terminal.Line($"Rewound {path}:");
        terminal.Line($"  was {existing.Offset} (count {existing.CommittedEventCount})");
        terminal.Line($"  now {offset} (count {count})");
        terminal.Line($"  the new offset is {Describe(order)} the old one");
        terminal.Line($"  audited in {Path.Combine(scan.DirectoryPath, FileCheckpoint.AuditLogFileName)}");
        return ExitCodes.Success;
    }

    internal static string Describe(OffsetOrder order) => order switch
    {
        OffsetOrder.Before => "behind",
        OffsetOrder.Same => "at the same position as",
        OffsetOrder.After => "ahead of (a seed would have done this with the guards)",
        _ => "not comparable with (another slot, server or history)",
    };
}
