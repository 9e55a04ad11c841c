using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Cdc.Checkpoint.Hosting.Tests.Support;

/// <summary>Keeps every log line (event id, level, message) for assertions, and echoes it to the test output.</summary>
internal sealed class ListLoggerProvider : ILoggerProvider
{
    public ConcurrentQueue<(EventId Id, LogLevel Level, string Message)> Entries { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this);

    public void Dispose()
    {
    }

    private sealed class Logger(ListLoggerProvider owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var message = formatter(state, exception);
            owner.Entries.Enqueue((eventId, logLevel, message));
            try
            {
                Xunit.TestContext.Current.TestOutputHelper?.WriteLine($"{logLevel} {eventId.Id}: {message}");
            }
            catch (InvalidOperationException)
            {
                // The test has finished; the line is kept in Entries.
            }
        }
    }
}
