using System.CommandLine;
using System.Numerics;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Cdc.Checkpoint.Cli.Output;

namespace Cdc.Checkpoint.Cli.Commands;

/// <summary>Arguments and options several verbs share.</summary>
internal static class CommonOptions
{
    public static Argument<string> Directory(string description = "The checkpoint directory (the one holding checkpoint_*.json and .cdc-checkpoint.lease).") =>
        new("DIR") { Description = description };

    /// <summary>DIR for a verb that can also address a table row (<see cref="TableOptions"/>).</summary>
    public static Argument<string?> DirectoryOrTable() =>
        new("DIR") { Description = "The checkpoint directory; or address a table store's row with --postgres/--mysql CONNSTR (or --connection-env VAR) and --name NAME.", Arity = ArgumentArity.ZeroOrOne };

    /// <summary>
    /// A read-only verb (<c>inspect</c>, <c>verify</c>, <c>lease</c>) on a checkpoint directory or a table store's row:
    /// DIR, or the table options, and <c>--json</c>; the directory form runs <paramref name="runDirectory"/>, the table
    /// form <paramref name="runTable"/>.
    /// </summary>
    public static Command DirectoryOrTableCommand(
        string name,
        string description,
        Func<string, bool, int> runDirectory,
        Func<TableOptions, ParseResult, bool, CancellationToken, Task<int>> runTable)
    {
        var directory = DirectoryOrTable();
        var table = new TableOptions();
        var json = Json();
        var command = new Command(name, description)
        {
            directory,
            json,
        };
        table.AddTo(command);
        table.RequireDirectoryOrTable(command, directory);
        command.SetAction((parseResult, cancellationToken) => parseResult.GetValue(directory) is { } dir
            ? Task.FromResult(runDirectory(dir, parseResult.GetValue(json)))
            : runTable(table, parseResult, parseResult.GetValue(json), cancellationToken));
        return command;
    }

    public static Option<bool> Json() =>
        new("--json") { Description = "Print one JSON document on standard output instead of tables." };

    /// <summary>Writes <paramref name="report"/> as one JSON document.</summary>
    public static void WriteJson<T>(Terminal terminal, T report, JsonTypeInfo<T> typeInfo)
    {
        terminal.Output.Write(JsonSerializer.Serialize(report, typeInfo));
        terminal.Output.WriteLine();
        terminal.Output.Flush();
    }
}

/// <summary>Whole-number options with a message operators can act on (System.CommandLine's own names the CLR type).</summary>
internal static class NumberOption
{
    /// <summary>An optional whole number; absent is <see langword="null"/>.</summary>
    public static Option<T?> Optional<T>(string name, string description)
        where T : struct, IBinaryInteger<T>, IMinMaxValue<T> =>
        new(name)
        {
            Description = description,
            HelpName = "N",
            CustomParser = result => Parse<T>(name, result),
        };

    /// <summary>A whole number with a default (or required).</summary>
    public static Option<T> Plain<T>(string name, string description, bool required = false)
        where T : struct, IBinaryInteger<T>, IMinMaxValue<T> =>
        new(name)
        {
            Description = description,
            HelpName = "N",
            Required = required,
            CustomParser = result => Parse<T>(name, result) ?? default,
        };

    private static T? Parse<T>(string name, System.CommandLine.Parsing.ArgumentResult result)
        where T : struct, IBinaryInteger<T>, IMinMaxValue<T>
    {
        var text = result.Tokens.Count == 1 ? result.Tokens[0].Value : string.Empty;
        if (T.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var value))
        {
            return value;
        }

        result.AddError($"{name} '{text}' is not a whole number from {T.MinValue} to {T.MaxValue}.");
        return null;
    }
}
