using System.CommandLine;
using Cdc.Checkpoint.Cli.Output;
using Cdc.Checkpoint.Cli.Reading;
using Cdc.Checkpoint.Files;

namespace Cdc.Checkpoint.Cli.Commands;

/// <summary><c>seed DIR --source … --count N</c>: write a typed record, creating it or moving it forward, with every library guard.</summary>
internal static class SeedCommand
{
    public static Command Create(Terminal terminal)
    {
        var directory = CommonOptions.DirectoryOrTable();
        var table = new TableOptions();
        var offsets = new OffsetOptions();
        var createDirectory = new Option<bool>("--create-directory")
        {
            Description = "Create DIR (mode 0700) when it does not exist; its parent must exist. Without it a missing directory is an error.",
        };
        var command = new Command(
            "seed",
            "Write a typed record (creating it, or moving it forward) for a migration or disaster recovery, with every guard of the library: "
            + "a lower count, an offset behind the stored one or a diverged offset (another slot, server or history) is refused. Takes the owner lease.")
        {
            directory,
            createDirectory,
        };
        offsets.AddTo(command);
        table.AddTo(command);
        table.RequireDirectoryOrTable(command, directory);
        command.SetAction((parseResult, cancellationToken) => parseResult.GetValue(directory) is null
            ? TableCommands.SeedAsync(terminal, table, parseResult, offsets.Read(parseResult), parseResult.GetValue(offsets.Count), cancellationToken)
            : RunAsync(
            terminal,
            parseResult.GetValue(directory)!,
            offsets.Read(parseResult),
            parseResult.GetValue(offsets.Count),
            parseResult.GetValue(createDirectory),
            cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(Terminal terminal, string directory, OffsetInput input, ulong count, bool createDirectory, CancellationToken cancellationToken)
    {
        var offset = OffsetOptions.Build(input);
        var full = Path.GetFullPath(directory);
        CheckpointRecord? existing = null;
        if (createDirectory && !Directory.Exists(full) && !File.Exists(full))
        {
            var parent = Path.GetDirectoryName(full);
            if (parent is null || !Directory.Exists(parent))
            {
                throw new CheckpointException(
                    CheckpointErrorCode.DirectoryNotFound,
                    $"Cannot create '{full}': its parent directory '{parent}' does not exist. Create the parent first (mkdir -p), then seed. Nothing was changed.")
                { Path = full };
            }
        }
        else
        {
            var scan = CheckpointDirectoryScan.Read(full);
            MutationGuard.EnsureWritable(scan, "seed");
            MutationGuard.EnsureFamily(scan, offset, "seed");
            existing = scan.ReadableRecords.FirstOrDefault(r => r.SourceType == offset.SourceType);
            var recordPath = Path.Combine(full, CheckpointFileNames.ForRecord(offset.SourceType));
            if (ProgressGuard.Check(recordPath, existing, offset, count) == ProgressGuard.Verdict.Repeat)
            {
                terminal.Line($"{recordPath} already holds {offset} (count {count}); nothing was written.");
                return ExitCodes.Success;
            }
        }

        var options = new FileCheckpointOptions { Codecs = CheckpointDirectoryScan.Codecs, CreateDirectory = createDirectory };
        var checkpoint = new FileCheckpoint(full, options);
        await using (checkpoint.ConfigureAwait(false))
        {
            await checkpoint.SaveAsync(offset, count, cancellationToken).ConfigureAwait(false);
        }

        var path = Path.Combine(full, CheckpointFileNames.ForRecord(offset.SourceType));
        terminal.Line($"Seeded {path}:");
        terminal.Line($"  was {(existing is null ? "(no record)" : $"{existing.Offset} (count {existing.CommittedEventCount})")}");
        terminal.Line($"  now {offset} (count {count})");
        return ExitCodes.Success;
    }
}
