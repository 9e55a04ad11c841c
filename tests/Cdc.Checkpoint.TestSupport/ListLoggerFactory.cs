using Microsoft.Extensions.Logging;

namespace Cdc.Checkpoint.TestSupport;

/// <summary>One captured log entry.</summary>
/// <param name="Level">The level.</param>
/// <param name="EventId">The event id (compare with an <see langword="int"/>: <c>e.EventId == CdcEventId.X</c>).</param>
/// <param name="Message">The formatted message.</param>
/// <param name="Category">The logger's category.</param>
/// <param name="Exception">The exception logged with the entry, if any.</param>
public sealed record LogEntry(LogLevel Level, EventId EventId, string Message, string Category, Exception? Exception);

/// <summary>
/// The one capturing logger of the tests: pass it where an <see cref="ILoggerFactory"/> is taken, or add it to a host's
/// logging as an <see cref="ILoggerProvider"/>. Keeps every entry at every level for assertions and echoes it to the
/// running test's output. Thread-safe.
/// </summary>
public sealed class ListLoggerFactory : ILoggerFactory, ILoggerProvider
{
    private readonly List<LogEntry> _entries = [];

    /// <summary>Gets a snapshot of the entries so far, in the order they were logged.</summary>
    public IReadOnlyList<LogEntry> Entries
    {
        get
        {
            lock (_entries)
            {
                return [.. _entries];
            }
        }
    }

    /// <inheritdoc />
    public ILogger CreateLogger(string categoryName) => new ListLogger(this, categoryName);

    /// <summary>Does nothing: every logger of this factory captures; other providers are not consulted.</summary>
    /// <param name="provider">Ignored.</param>
    public void AddProvider(ILoggerProvider provider)
    {
    }

    /// <summary>Does nothing; the entries stay readable after dispose.</summary>
    public void Dispose()
    {
    }

    private void Add(LogEntry entry)
    {
        lock (_entries)
        {
            _entries.Add(entry);
        }

        try
        {
            Xunit.TestContext.Current.TestOutputHelper?.WriteLine($"{entry.Level} {entry.EventId.Id}: {entry.Message}");
        }
        catch (InvalidOperationException)
        {
            // The test has finished (a background service logging at shutdown); the entry is kept in Entries.
        }
    }

    private sealed class ListLogger(ListLoggerFactory owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner.Add(new LogEntry(logLevel, eventId, formatter(state, exception), category, exception));
    }
}
