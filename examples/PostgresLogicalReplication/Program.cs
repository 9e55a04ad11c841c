using System.Globalization;
using System.Runtime.InteropServices;
using Cdc.Checkpoint.TestServers;
using PostgresLogicalReplication;

// A real pgoutput consumer with Cdc.Checkpoint, and a crash loop that proves it: rows are inserted while the consumer
// is killed with SIGKILL again and again; at the end the sink holds every row exactly once.
//
//   dotnet run --project examples/PostgresLogicalReplication                      # throwaway local PostgreSQL 15
//   dotnet run --project examples/PostgresLogicalReplication -- demo --connection "Host=…;Database=…;Username=…"
//   dotnet run --project examples/PostgresLogicalReplication -- demo --sink file --kills 10
//   dotnet run --project examples/PostgresLogicalReplication -- consume --connection "…" --schema <name> [--sink file --dir <dir>]
var arguments = ParseArguments(args);
if (arguments is null)
{
    return Usage(2);
}

var mode = arguments.GetValueOrDefault("mode", "demo");
return mode switch
{
    "demo" => await DemoAsync(arguments),
    "consume" => await ConsumeAsync(arguments),
    "help" => Usage(0),
    _ => Usage(2),
};

static async Task<int> DemoAsync(Dictionary<string, string> arguments)
{
    var sink = ParseSink(arguments);
    var kills = arguments.TryGetValue("kills", out var k) ? int.Parse(k, CultureInfo.InvariantCulture) : 5;
    PostgresTestServer? local = null;
    var connectionString = arguments.GetValueOrDefault("connection");
    if (connectionString is null)
    {
        try
        {
            Console.WriteLine("No --connection given: starting a throwaway local PostgreSQL 15 (initdb in /tmp, removed at the end)…");
            local = await PostgresTestServer.StartNewClusterAsync();
            connectionString = local.ConnectionString;
        }
        catch (Exception ex) when (ex is InvalidOperationException or PlatformNotSupportedException)
        {
            Console.Error.WriteLine($"Could not start a local PostgreSQL: {ex.Message}");
            Console.Error.WriteLine();
            Console.Error.WriteLine("Point the demo at a server instead (wal_level=logical; a user with REPLICATION and CREATE on the database):");
            Console.Error.WriteLine("  dotnet run --project examples/PostgresLogicalReplication -- demo --connection \"Host=localhost;Database=app;Username=cdc;Password=…\"");
            Console.Error.WriteLine("It creates a schema, a publication and a slot named cdc_demo_<random> and drops them at the end.");
            return 2;
        }
    }

    try
    {
        var result = await CrashLoop.RunAsync(new CrashLoopOptions { ConnectionString = connectionString, Sink = sink, Kills = kills });
        Console.WriteLine();
        Console.WriteLine($"result: {result.InsertedIds.Count} rows inserted, {result.SinkIds.Count} rows in the {sink.ToString().ToLowerInvariant()} sink after {result.Kills} SIGKILLs");
        Console.WriteLine($"        missing: {result.Missing.Count}, duplicated: {result.Duplicated.Count}");
        Console.WriteLine($"        final checkpoint {result.FinalCheckpoint}, slot confirmed_flush_lsn {result.FinalConfirmedFlush}");
        Console.WriteLine($"        times the slot was seen ahead of the durable checkpoint: {result.Violations.Count}");
        if (!result.Passed)
        {
            Console.Error.WriteLine("FAILED");
            return 1;
        }

        Console.WriteLine("ok: exactly once, and the server was never told more than the durable checkpoint.");
        return 0;
    }
    finally
    {
        if (local is not null)
        {
            await local.DisposeAsync();
        }
    }
}

static async Task<int> ConsumeAsync(Dictionary<string, string> arguments)
{
    if (!arguments.TryGetValue("connection", out var connection) || !arguments.TryGetValue("schema", out var schema))
    {
        return Usage(2);
    }

    var sink = ParseSink(arguments);
    var directory = arguments.GetValueOrDefault("dir");
    if (sink == SinkKind.File && directory is null)
    {
        Console.Error.WriteLine("--sink file needs --dir <directory>");
        return 2;
    }

    using var stop = new CancellationTokenSource();
    using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
    {
        context.Cancel = true;
        stop.Cancel();
    });
    using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, context =>
    {
        context.Cancel = true;
        stop.Cancel();
    });
    var options = new ConsumerOptions(connection, schema, sink, directory);
    if (arguments.TryGetValue("idle-ms", out var idle))
    {
        options = options with { IdleAdvanceInterval = TimeSpan.FromMilliseconds(int.Parse(idle, CultureInfo.InvariantCulture)) };
    }

    return await Consumer.RunAsync(options, stop.Token);
}

static SinkKind ParseSink(Dictionary<string, string> arguments) =>
    arguments.GetValueOrDefault("sink", "table") switch
    {
        "table" => SinkKind.Table,
        "file" => SinkKind.File,
        var other => throw new ArgumentException($"--sink must be 'table' or 'file', not '{other}'."),
    };

static Dictionary<string, string>? ParseArguments(string[] args)
{
    var result = new Dictionary<string, string>(StringComparer.Ordinal);
    var i = 0;
    if (args.Length > 0 && !args[0].StartsWith("--", StringComparison.Ordinal))
    {
        result["mode"] = args[0];
        i = 1;
    }

    for (; i < args.Length; i++)
    {
        if (args[i] is "--help" or "-h")
        {
            result["mode"] = "help";
            continue;
        }

        if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length)
        {
            return null;
        }

        result[args[i][2..]] = args[++i];
    }

    return result;
}

static int Usage(int code)
{
    var writer = code == 0 ? Console.Out : Console.Error;
    writer.WriteLine("usage: PostgresLogicalReplication [demo] [--connection <npgsql connection string>] [--sink table|file] [--kills N]");
    writer.WriteLine("       PostgresLogicalReplication consume --connection <cs> --schema <name> [--sink table|file] [--dir <dir>] [--idle-ms N]");
    writer.WriteLine("  demo     insert rows, SIGKILL the consumer N times (default 5), check the sink holds every row exactly once;");
    writer.WriteLine("           without --connection a throwaway local PostgreSQL 15 is started (needs the postgresql-15 package).");
    writer.WriteLine("  consume  one consumer process (the demo starts these); SIGTERM or Ctrl+C stops it cleanly.");
    return code;
}
