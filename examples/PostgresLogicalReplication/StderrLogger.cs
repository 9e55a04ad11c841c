using Microsoft.Extensions.Logging;

namespace PostgresLogicalReplication;

/// <summary>Writes warnings and errors (with their event ids) to stderr; enough logging for an example.</summary>
internal sealed class StderrLoggerProvider(LogLevel minimum = LogLevel.Warning) : ILoggerProvider, ILoggerFactory
{
    public ILogger CreateLogger(string categoryName) => new StderrLogger(categoryName, minimum);

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    private sealed class StderrLogger(string category, LogLevel minimum) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= minimum;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                var name = category[(category.LastIndexOf('.') + 1)..];
                Console.Error.WriteLine($"[{logLevel} {eventId.Id} {name}] {formatter(state, exception)}{(exception is null ? string.Empty : " — " + exception.Message)}");
            }
        }
    }
}
