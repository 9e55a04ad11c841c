using System.CommandLine;
using System.Globalization;
using Cdc.Checkpoint.Cli.Output;
using Cdc.Checkpoint.Cli.Reading;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Leasing;
using Cdc.Checkpoint.Manifests;
using Spectre.Console;

namespace Cdc.Checkpoint.Cli.Commands;

/// <summary><c>manifests list|validate|recover DIR</c>: the manifest store under a root directory.</summary>
internal static class ManifestsCommand
{
    private const string RootDescription = "The manifest store's root directory (the one holding 'checkpoints/').";

    public static Command Create(Terminal terminal)
    {
        var command = new Command("manifests", "Manifest stores (FileManifestStore): list, validate and recover checkpoints.");
        command.Subcommands.Add(CreateList(terminal));
        command.Subcommands.Add(CreateValidate(terminal));
        command.Subcommands.Add(CreateRecover(terminal));
        return command;
    }

    private static Command CreateList(Terminal terminal)
    {
        var root = OptionalRoot();
        var s3 = new S3Options();
        var json = CommonOptions.Json();
        var command = new Command("list", "List every checkpoint of a manifest store with its epoch, time and sources, and the latest pointer. Read-only; exit 1 when a manifest cannot be read.")
        {
            root,
            json,
        };
        s3.AddTo(command, root);
        command.SetAction((parseResult, cancellationToken) => ListAsync(terminal, Open(parseResult, root, s3), parseResult.GetValue(json), cancellationToken));
        return command;
    }

    private static Command CreateValidate(Terminal terminal)
    {
        var root = OptionalRoot();
        var s3 = new S3Options();
        var json = CommonOptions.Json();
        var id = NumberOption.Optional<ulong>("--id", "Validate only this checkpoint id.");
        var command = new Command(
            "validate",
            "Validate every checkpoint (or one): manifest present and readable, state sidecar with the recorded size and SHA-256; also lists orphans and leftover temp files. "
            + "Read-only; exit 0 only when every checkpoint validated is usable.")
        {
            root,
            id,
            json,
        };
        s3.AddTo(command, root);
        command.SetAction((parseResult, cancellationToken) => ValidateAsync(terminal, Open(parseResult, root, s3), parseResult.GetValue(id), parseResult.GetValue(json), cancellationToken));
        return command;
    }

    private static Command CreateRecover(Terminal terminal)
    {
        var root = OptionalRoot();
        var s3 = new S3Options();
        var json = CommonOptions.Json();
        var cleanup = new Option<bool>("--cleanup-orphans")
        {
            Description = "After finding the checkpoint to recover, remove checkpoint directories without a manifest that are older than the latest one, and leftover temp files. "
                + "Takes the owner lease of DIR; make sure no coordinator is writing the store.",
        };
        var command = new Command(
            "recover",
            "Show the checkpoint recovery would resume from: the newest valid one, with every newer checkpoint skipped and why, and the id the next checkpoint must exceed. "
            + "Read-only unless --cleanup-orphans is given. Exit 1 when checkpoints exist but none is valid.")
        {
            root,
            cleanup,
            json,
        };
        s3.AddTo(command, root);
        command.Validators.Add(result =>
        {
            if (result.GetValue(cleanup) && result.GetValue(s3.Bucket) is not null)
            {
                result.AddError("--cleanup-orphans applies to a manifest directory only: the S3 verbs are read-only and never write or delete an object.");
            }
        });
        command.SetAction((parseResult, cancellationToken) => RecoverAsync(terminal, Open(parseResult, root, s3), parseResult.GetValue(cleanup), parseResult.GetValue(json), cancellationToken));
        return command;
    }

    private static Argument<string?> OptionalRoot() =>
        new("DIR") { Description = RootDescription + " Or give an S3 store with --bucket (and --s3-endpoint, --prefix, --region, --path-style).", Arity = ArgumentArity.ZeroOrOne };

    /// <summary>The store a verb reads: a directory (<see cref="File"/> set) or an S3 store.</summary>
    private sealed record OpenedStore(IManifestStore Store, string Where, FileManifestStore? File);

    private static OpenedStore Open(ParseResult parseResult, Argument<string?> root, S3Options s3)
    {
        if (parseResult.GetValue(root) is { } directory)
        {
            var file = OpenStore(directory);
            return new OpenedStore(file, file.RootDirectory, file);
        }

        var store = s3.Open(parseResult);
        return new OpenedStore(store, $"s3://{store.Options.BucketName}/{store.Options.Prefix} at {store.Options.ServiceUrl?.ToString() ?? "AWS " + store.Options.Region}", null);
    }

    private static FileManifestStore OpenStore(string root)
    {
        var full = Path.GetFullPath(root);
        if (!Directory.Exists(full))
        {
            throw new CheckpointException(
                CheckpointErrorCode.DirectoryNotFound,
                File.Exists(full)
                    ? $"'{full}' is a file, not a manifest store. Pass the store's root directory (the one given to FileManifestStore)."
                    : $"Manifest store root '{full}' does not exist. Check the path.")
            { Path = full };
        }

        var store = new FileManifestStore(full, new FileManifestStoreOptions { Codecs = CheckpointDirectoryScan.Codecs, RetainCount = 0 });
        if (!Directory.Exists(store.CheckpointsDirectory))
        {
            throw new CheckpointException(
                CheckpointErrorCode.DirectoryNotFound,
                $"'{full}' holds no manifest store: there is no '{FileManifestStore.CheckpointsDirectoryName}' directory in it. Pass the store's root directory (the one given to FileManifestStore).")
            { Path = full };
        }

        return store;
    }

    private static async Task<int> ListAsync(Terminal terminal, OpenedStore opened, bool json, CancellationToken cancellationToken)
    {
        using var disposable = opened.Store as IDisposable;
        var store = opened.Store;
        var entries = await store.ListAsync(cancellationToken).ConfigureAwait(false);
        var reports = new List<ManifestEntryReport>();
        foreach (var entry in entries)
        {
            IReadOnlyList<string>? sources = null;
            var problem = entry.Problem;
            if (problem is null)
            {
                try
                {
                    var manifest = await store.LoadAsync(entry.CheckpointId, cancellationToken).ConfigureAwait(false);
                    sources = manifest is null ? null : [.. manifest.SourceOffsets.Select(s => $"{s.Key}: {s.Value.Offset}")];
                }
                catch (CheckpointException ex)
                {
                    problem = ex.Message;
                }
            }

            reports.Add(new ManifestEntryReport { Id = entry.CheckpointId, Epoch = entry.Epoch, CreatedAt = entry.CreatedAt, Sources = sources, Problem = problem });
        }

        var (pointer, pointerProblem) = opened.File is { } file ? ReadPointer(file) : await LatestAsync(store, cancellationToken).ConfigureAwait(false);
        var report = new ManifestListReport { Root = opened.Where, LatestPointer = pointer, LatestPointerProblem = pointerProblem, Checkpoints = reports };
        if (json)
        {
            CommonOptions.WriteJson(terminal, report, CliJsonContext.Default.ManifestListReport);
        }
        else
        {
            terminal.Line($"Manifest store {report.Root}");
            terminal.Line($"Latest pointer: {(pointer?.ToString(CultureInfo.InvariantCulture) ?? "(none)")}{(pointerProblem is null ? string.Empty : $" - {pointerProblem}")}");
            if (reports.Count == 0)
            {
                terminal.Line("No checkpoints.");
            }
            else
            {
                var table = new Table().Border(TableBorder.Rounded);
                foreach (var header in new[] { "id", "epoch", "created at", "sources", "status" })
                {
                    table.AddColumn(new TableColumn(Terminal.Cell(header)));
                }

                foreach (var r in reports)
                {
                    table.AddRow(
                        Terminal.Cell(r.Id.ToString(CultureInfo.InvariantCulture)),
                        Terminal.Cell(r.Epoch?.ToString(CultureInfo.InvariantCulture) ?? "?"),
                        Terminal.Cell(r.CreatedAt?.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture) ?? "?"),
                        Terminal.Cell(r.Sources is null ? "?" : string.Join("\n", r.Sources)),
                        Terminal.Cell(r.Problem is null ? "ok" : "UNREADABLE"));
                }

                terminal.Write(table);
                foreach (var r in reports.Where(r => r.Problem is not null))
                {
                    terminal.Line($"checkpoint {r.Id}: {r.Problem}");
                }
            }
        }

        return reports.All(r => r.Problem is null) ? ExitCodes.Success : ExitCodes.RefusedOrInvalid;
    }

    private static async Task<int> ValidateAsync(Terminal terminal, OpenedStore opened, ulong? onlyId, bool json, CancellationToken cancellationToken)
    {
        using var disposable = opened.Store as IDisposable;
        var store = opened.Store;
        if (onlyId == 0)
        {
            throw new ArgumentException("--id 0 is not a checkpoint id; ids start at 1.");
        }

        var ids = onlyId is { } one ? [one] : (await store.ListAsync(cancellationToken).ConfigureAwait(false)).Select(e => e.CheckpointId).ToList();
        var results = new List<ManifestValidationReport>();
        foreach (var id in ids)
        {
            var result = await store.ValidateAsync(id, cancellationToken).ConfigureAwait(false);
            results.Add(new ManifestValidationReport
            {
                Id = id,
                Valid = result.IsValid,
                Findings = [.. result.Findings.Select(f => new ManifestFindingReport { Severity = f.Severity.ToString().ToLowerInvariant(), Message = f.Message })],
            });
        }

        var notes = opened.File is { } file ? StoreNotes(file) : [];
        var report = new ManifestValidateReport { Root = opened.Where, Ok = results.All(r => r.Valid), Checkpoints = results, Notes = notes };
        if (json)
        {
            CommonOptions.WriteJson(terminal, report, CliJsonContext.Default.ManifestValidateReport);
        }
        else
        {
            foreach (var result in results)
            {
                terminal.Line($"checkpoint {result.Id}: {(result.Valid ? "valid" : "INVALID")}");
                foreach (var finding in result.Findings)
                {
                    terminal.Line($"  {finding.Severity}: {finding.Message}");
                }
            }

            foreach (var note in notes)
            {
                terminal.Line($"note: {note.Message}");
            }

            var invalid = results.Count(r => !r.Valid);
            terminal.Line(results.Count == 0
                ? $"No checkpoints in {opened.Where}."
                : invalid == 0 ? $"OK: {results.Count} checkpoint(s) valid." : $"{invalid} of {results.Count} checkpoint(s) invalid.");
        }

        return report.Ok ? ExitCodes.Success : ExitCodes.RefusedOrInvalid;
    }

    private static async Task<int> RecoverAsync(Terminal terminal, OpenedStore opened, bool cleanup, bool json, CancellationToken cancellationToken)
    {
        using var disposable = opened.Store as IDisposable;
        var store = opened.Store;
        if (cleanup)
        {
            // Refuse before anything is read for real, so a refused cleanup changes nothing at all.
            EnsureNotLeased(opened.File!.RootDirectory);
        }

        var recovery = await store.RecoverLatestValidAsync(cancellationToken).ConfigureAwait(false);
        OrphanCleanupResult? removed = null;
        if (cleanup)
        {
            var lease = new FileCheckpoint(opened.File!.RootDirectory);
            await using (lease.ConfigureAwait(false))
            {
                await lease.AcquireLeaseAsync(cancellationToken).ConfigureAwait(false);
                removed = await store.CleanupOrphansAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        var report = BuildRecoverReport(opened.Where, recovery, removed);
        if (json)
        {
            CommonOptions.WriteJson(terminal, report, CliJsonContext.Default.ManifestRecoverReport);
            return ExitCodes.Success;
        }

        foreach (var skipped in report.Skipped)
        {
            terminal.Line($"skipped checkpoint {skipped.Id}: {skipped.Reason}");
        }

        if (report.Recovered is not { } recovered)
        {
            terminal.Line($"No checkpoint in {opened.Where}: a consumer starts afresh.");
        }
        else
        {
            terminal.Line($"Recover from checkpoint {recovered.Id} (epoch {recovered.Epoch}, created {recovered.CreatedAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture)}{(recovered.Watermark is { } w ? $", watermark {w}" : string.Empty)}):");
            foreach (var source in recovered.Sources)
            {
                terminal.Line($"  source {source.Name}: {source.Offset} (count {source.CommittedEventCount})");
            }

            foreach (var sink in recovered.Sinks)
            {
                terminal.Line($"  sink {sink.Name}: epoch {sink.Epoch?.ToString(CultureInfo.InvariantCulture) ?? "?"}, {sink.Status ?? "no status"}{(sink.FailureMessage is null ? string.Empty : $" ({sink.FailureMessage})")}");
            }

            foreach (var warning in report.Warnings)
            {
                terminal.Line($"  warning: {warning}");
            }

            terminal.Line($"The next checkpoint id must be above {report.HighestCheckpointId}.");
        }

        if (removed is not null)
        {
            terminal.Line($"Removed {removed.RemovedCheckpointDirectories.Length} orphan checkpoint director(ies) and {removed.RemovedTempFiles.Length} temp file(s).");
        }

        return ExitCodes.Success;
    }

    private static ManifestRecoverReport BuildRecoverReport(string where, ManifestRecovery? recovery, OrphanCleanupResult? removed)
    {
        RecoveredManifestReport? recovered = null;
        if (recovery?.Manifest is { } manifest)
        {
            var sinkNames = manifest.SinkEpochs.Keys.Union(manifest.SinkCommitStatuses.Keys, StringComparer.Ordinal).Order(StringComparer.Ordinal);
            recovered = new RecoveredManifestReport
            {
                Id = manifest.CheckpointId,
                Epoch = manifest.Epoch,
                CreatedAt = manifest.CreatedAt,
                Watermark = manifest.Watermark,
                Sources = [.. manifest.SourceOffsets.Select(s => new ManifestSourceReport
                {
                    Name = s.Key,
                    SourceType = s.Value.Offset.SourceType,
                    Offset = s.Value.Offset.ToString(),
                    CommittedEventCount = s.Value.CommittedEventCount,
                })],
                Sinks = [.. sinkNames.Select(name => new ManifestSinkReport
                {
                    Name = name,
                    Epoch = manifest.SinkEpochs.TryGetValue(name, out var epoch) ? epoch : null,
                    Status = manifest.SinkCommitStatuses.TryGetValue(name, out var status) ? status.State.ToString().ToLowerInvariant() : null,
                    FailureMessage = manifest.SinkCommitStatuses.TryGetValue(name, out var failed) ? failed.FailureMessage : null,
                })],
            };
        }

        return new ManifestRecoverReport
        {
            Root = where,
            Recovered = recovered,
            Skipped = [.. (recovery?.Skipped ?? []).Select(s => new SkippedReport { Id = s.CheckpointId, Reason = s.Reason })],
            Warnings = [.. (recovery?.Warnings ?? []).Select(w => w.Message)],
            HighestCheckpointId = recovery?.HighestCheckpointId,
            Examined = recovery?.Examined,
            RemovedOrphanCheckpoints = removed is null ? null : [.. removed.RemovedCheckpointDirectories],
            RemovedTempFiles = removed is null ? null : [.. removed.RemovedTempFiles],
        };
    }

    private static void EnsureNotLeased(string root)
    {
        var status = FileCheckpoint.GetLeaseStatus(root);
        if (status.State == LeaseState.Held)
        {
            throw MutationGuard.Refusal(
                CheckpointErrorCode.LeaseHeld,
                Path.Combine(root, FileCheckpoint.LeaseFileName),
                $"Refusing to clean up '{root}': it is owned by {status.Owner?.ToString() ?? "another process"}. Stop that process and run the command again.");
        }
    }

    /// <summary>Orphan checkpoint directories, temp files and latest-pointer problems, for validate.</summary>
    private static List<FindingReport> StoreNotes(FileManifestStore store)
    {
        var notes = new List<FindingReport>();
        var (_, pointerProblem) = ReadPointer(store);
        if (pointerProblem is not null)
        {
            notes.Add(new FindingReport { Path = store.LatestPointerPath, Message = $"latest pointer '{store.LatestPointerPath}' {pointerProblem}; recovery scans the checkpoints instead." });
        }

        foreach (var temp in Directory.EnumerateFiles(store.CheckpointsDirectory, "*" + CheckpointFileNames.TempFileSuffix).Order(StringComparer.Ordinal))
        {
            notes.Add(new FindingReport { Path = temp, Message = $"'{temp}' is a leftover temp file of an interrupted write (`manifests recover --cleanup-orphans` removes it)." });
        }

        foreach (var directory in new DirectoryInfo(store.CheckpointsDirectory).EnumerateDirectories("checkpoint_*").OrderBy(d => d.Name, StringComparer.Ordinal))
        {
            if (directory.LinkTarget is not null || !FileManifestStore.TryParseDirectoryName(directory.Name, out var id))
            {
                notes.Add(new FindingReport { Path = directory.FullName, Message = $"'{directory.FullName}' is not a checkpoint directory of this store (a link, or not a canonical name); it is ignored." });
                continue;
            }

            if (!File.Exists(Path.Combine(directory.FullName, FileManifestStore.ManifestFileName)))
            {
                notes.Add(new FindingReport { Path = directory.FullName, Message = $"checkpoint {id} ('{directory.FullName}') has no manifest: an interrupted save, ignored by recovery (`manifests recover --cleanup-orphans` removes it when it is older than the latest checkpoint)." });
            }

            foreach (var temp in directory.EnumerateFiles("*" + CheckpointFileNames.TempFileSuffix))
            {
                notes.Add(new FindingReport { Path = temp.FullName, Message = $"'{temp.FullName}' is a leftover temp file of an interrupted write." });
            }
        }

        return notes;
    }

    /// <summary>The latest checkpoint of a store read through <see cref="IManifestStore"/> (an S3 store's pointer, or its newest manifest).</summary>
    private static async Task<(ulong? Id, string? Problem)> LatestAsync(IManifestStore store, CancellationToken cancellationToken)
    {
        try
        {
            return ((await store.LoadLatestAsync(cancellationToken).ConfigureAwait(false))?.CheckpointId, null);
        }
        catch (CheckpointException ex) when (ex.ErrorCode is CheckpointErrorCode.Corrupt)
        {
            return (null, ex.Message);
        }
    }

    /// <summary>Reads the latest pointer the way the store's recovery does, without changing it.</summary>
    private static (ulong? Id, string? Problem) ReadPointer(FileManifestStore store)
    {
        try
        {
            var reading = store.ReadLatestPointerAsync().AsTask().GetAwaiter().GetResult();
            return (reading.CheckpointId, reading.Problem);
        }
        catch (CheckpointException ex)
        {
            return (null, ex.Message);
        }
    }
}
