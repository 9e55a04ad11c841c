using Cdc.Checkpoint.Hosting.Diagnostics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;

namespace Cdc.Checkpoint.Hosting.Consumers;

/// <summary>
/// The part of every hosted consumer that does not depend on the source: runs one stream after another through a Polly
/// retry pipeline (transient failures, exponential backoff, a fresh series of attempts once a stream has run), keeps the
/// status for health checks, and turns a failure a retry cannot fix into a fail-stop with the operator message.
/// </summary>
internal sealed class ConsumerRunner
{
    private readonly string _name;
    private readonly ConsumerRetryOptions _retry;
    private readonly ConsumerFailureBehavior _onFailure;
    private readonly Func<Exception, bool> _isTransient;
    private readonly ConsumerStatusTracker _tracker;
    private readonly IHostApplicationLifetime? _lifetime;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;

    public ConsumerRunner(
        string name,
        ConsumerRetryOptions retry,
        ConsumerFailureBehavior onFailure,
        Func<Exception, bool> isTransient,
        ConsumerStatusTracker tracker,
        IHostApplicationLifetime? lifetime,
        TimeProvider timeProvider,
        ILogger logger)
    {
        _name = name;
        _retry = retry;
        _onFailure = onFailure;
        _isTransient = isTransient;
        _tracker = tracker;
        _lifetime = lifetime;
        _timeProvider = timeProvider;
        _logger = logger;
    }

    /// <summary>Whether the exception is retried: transient by the source's rules, and not a cancellation.</summary>
    public bool IsTransient(Exception exception) => exception is not OperationCanceledException && _isTransient(exception);

    /// <summary>
    /// Runs <paramref name="runStream"/> until it returns (the host is stopping) or fails for good. Each attempt gets a
    /// fresh <see cref="ConsumerStreamContext"/>; once the stream has delivered data, its next transient failure starts a
    /// fresh series of retries.
    /// </summary>
    /// <returns><see langword="true"/> after a clean stop; <see langword="false"/> after a failure.</returns>
    public async Task<bool> RunAsync(Func<ConsumerStreamContext, CancellationToken, Task> runStream, CancellationToken stoppingToken)
    {
        Log.ConsumerStarting(_logger, _name);
        var pipeline = CreatePipeline();
        try
        {
            while (true)
            {
                var restart = await pipeline.ExecuteAsync(
                    async ct =>
                    {
                        var stream = new ConsumerStreamContext(_tracker, _logger);
                        try
                        {
                            await runStream(stream, ct).ConfigureAwait(false);
                            return false;
                        }
                        catch (Exception ex) when (stream.IsReceiving && !ct.IsCancellationRequested && IsTransient(ex))
                        {
                            // The stream ran and then broke: reopen with a fresh series of attempts (and their short delays).
                            Retrying(ex, 1, TimeSpan.Zero);
                            return true;
                        }
                    },
                    stoppingToken).ConfigureAwait(false);
                if (!restart)
                {
                    _tracker.Update(s => s with { State = ConsumerState.Stopped });
                    return true;
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            _tracker.Update(s => s with { State = ConsumerState.Stopped });
            return true;
        }
        catch (Exception ex)
        {
            Fail(ex);
            return false;
        }
    }

    private ResiliencePipeline CreatePipeline()
    {
        var options = new RetryStrategyOptions
        {
            ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is { } ex && !args.Context.CancellationToken.IsCancellationRequested && IsTransient(ex)),
            MaxRetryAttempts = _retry.MaxAttempts ?? int.MaxValue,
            Delay = _retry.Delay,
            MaxDelay = _retry.MaxDelay,
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = _retry.UseJitter,
            OnRetry = args =>
            {
                Retrying(args.Outcome.Exception!, args.AttemptNumber + 1, args.RetryDelay);
                return default;
            },
        };
        return new ResiliencePipelineBuilder { TimeProvider = _timeProvider }.AddRetry(options).Build();
    }

    private void Retrying(Exception exception, int attempt, TimeSpan delay)
    {
        var code = (exception as CheckpointException)?.ErrorCode;
        if (_logger.IsEnabled(LogLevel.Warning))
        {
            Log.ConsumerRetrying(_logger, _name, CodeOf(exception), attempt, delay, exception.Message, exception);
        }

        _tracker.Update(s => s with
        {
            State = ConsumerState.Retrying,
            RetryAttempt = attempt,
            LastError = exception.Message,
            LastErrorCode = code,
        });
    }

    private static string CodeOf(Exception exception) =>
        exception is CheckpointException checkpoint ? checkpoint.ErrorCode.ToString() : exception.GetType().Name;

    private void Fail(Exception exception)
    {
        var code = (exception as CheckpointException)?.ErrorCode;
        var codeText = CodeOf(exception);
        Log.ConsumerFailed(_logger, _name, codeText, exception.Message, exception);
        _tracker.Update(s => s with { State = ConsumerState.Failed, LastError = exception.Message, LastErrorCode = code });
        if (_onFailure == ConsumerFailureBehavior.StopHost && _lifetime is not null)
        {
            Log.HostStopRequested(_logger, _name);
            Environment.ExitCode = 1;
            _lifetime.StopApplication();
        }
    }
}
