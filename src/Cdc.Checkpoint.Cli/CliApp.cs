using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using Cdc.Checkpoint.Cli.Commands;
using Cdc.Checkpoint.Cli.Output;

namespace Cdc.Checkpoint.Cli;

/// <summary>The <c>cdc-checkpoint</c> command line: verbs, exit codes and the one place errors are reported.</summary>
internal static class CliApp
{
    public const string ToolName = "cdc-checkpoint";

    /// <summary>Parses <paramref name="args"/>, runs the verb and returns the exit code (see <see cref="ExitCodes"/>).</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken = default)
    {
        var terminal = new Terminal(output, error);
        var root = BuildRootCommand(terminal);
        var parseResult = root.Parse(args);
        if (parseResult.Action is ParseErrorAction)
        {
            // System.CommandLine would print the whole help text and exit 1; usage errors are exit 2 and stay short.
            // Several errors (an unknown verb and its stray argument, two missing options) still make one line.
            await ReportAsync(error, string.Join("; ", parseResult.Errors.Select(e => e.Message.TrimEnd('.')).Distinct(StringComparer.Ordinal)) + ".").ConfigureAwait(false);

            var verb = string.Join(' ', CommandPath(parseResult.CommandResult));
            await error.WriteLineAsync($"Run '{ToolName}{(verb.Length == 0 ? string.Empty : " " + verb)} --help' for usage.").ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        try
        {
            var configuration = new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false };
            return await parseResult.InvokeAsync(configuration, cancellationToken).ConfigureAwait(false);
        }
        catch (CheckpointException ex)
        {
            await ReportAsync(error, ex.Message).ConfigureAwait(false);
            return ExitCodes.RefusedOrInvalid;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            await ReportAsync(error, $"{ex.Message.TrimEnd('.')}. Check that the path exists and is accessible to this user; nothing further was changed.").ConfigureAwait(false);
            return ExitCodes.RefusedOrInvalid;
        }
        catch (System.Data.Common.DbException ex)
        {
            // A server that cannot be reached, refuses the login or lacks a table: one line, never the driver's stack.
            await ReportAsync(error, $"The database server said: {ex.Message.TrimEnd('.')}. Check the connection string (host, port, user, password, database) and the table options; nothing was changed.").ConfigureAwait(false);
            return ExitCodes.RefusedOrInvalid;
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException)
        {
            // Option values are validated while parsing; what reaches here is still a bad value given on the command line.
            await ReportAsync(error, WithoutParameterSuffix(ex)).ConfigureAwait(false);
            return ExitCodes.Usage;
        }
        catch (OperationCanceledException)
        {
            await ReportAsync(error, "cancelled; a write in progress either completed or left the previous file intact.").ConfigureAwait(false);
            return ExitCodes.RefusedOrInvalid;
        }
    }

    /// <summary>The message of an argument exception without .NET's " (Parameter 'x')" suffix.</summary>
    public static string WithoutParameterSuffix(Exception ex) =>
        ex is ArgumentException { ParamName: { } name } && ex.Message.EndsWith($" (Parameter '{name}')", StringComparison.Ordinal)
            ? ex.Message[..^$" (Parameter '{name}')".Length]
            : ex.Message;

    // One line per message: System.CommandLine lists allowed values on separate tab-indented lines.
    private static Task ReportAsync(TextWriter error, string message) =>
        error.WriteLineAsync($"{ToolName}: {string.Join(' ', message.Split((char[])['\r', '\n', '\t', ' '], StringSplitOptions.RemoveEmptyEntries))}");

    private static Command BuildRootCommand(Terminal terminal)
    {
        // A plain command rather than RootCommand: RootCommand names itself after the executable, which is
        // "Cdc.Checkpoint.Cli" when run through `dotnet` or the tool shim; operators know it as cdc-checkpoint.
        var root = new Command(
            ToolName,
            "Operator tool for Cdc.Checkpoint directories. Read-only verbs (inspect, verify, lease, manifests list/validate/recover) never take the lease or change a file; "
            + "mutating verbs (seed, rewind, migrate, manifests recover --cleanup-orphans) take the owner lease and refuse while another live process holds it. "
            + "Exit codes: 0 success, 1 refused or invalid data, 2 usage error.");
        root.Options.Add(new HelpOption { Recursive = true });
        root.Options.Add(new VersionOption());
        root.Subcommands.Add(InspectCommand.Create(terminal));
        root.Subcommands.Add(VerifyCommand.Create(terminal));
        root.Subcommands.Add(SeedCommand.Create(terminal));
        root.Subcommands.Add(RewindCommand.Create(terminal));
        root.Subcommands.Add(MigrateCommand.Create(terminal));
        root.Subcommands.Add(LeaseCommand.Create(terminal));
        root.Subcommands.Add(ManifestsCommand.Create(terminal));
        root.Subcommands.Add(ValidateCommand.Create(terminal));
        root.Subcommands.Add(ImportDebeziumCommand.Create(terminal));
        return root;
    }

    private static List<string> CommandPath(CommandResult command)
    {
        var path = new List<string>();
        for (SymbolResult? current = command; current is CommandResult { Parent: not null } result; current = current.Parent)
        {
            path.Insert(0, result.Command.Name);
        }

        return path;
    }
}
