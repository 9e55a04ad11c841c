namespace Cdc.Checkpoint.TestServers.MariaDb.Ado;

/// <summary>
/// Connector/C calls block, so the async API runs them on the thread pool. A token cancelled while a statement runs
/// triggers <paramref name="cancel"/> (a <c>KILL QUERY</c>); once a kill was sent the call ends in
/// <see cref="OperationCanceledException"/> whatever the statement returned (a killed <c>SLEEP()</c> returns 1
/// rather than an error, a killed lock wait fails with 1317), never a wrapped exception.
/// </summary>
internal static class MariaDbAsync
{
    public static async Task<T> RunAsync<T>(Func<T> work, Func<bool>? cancel, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var killed = 0;
        using var registration = cancel is null
            ? default
            : cancellationToken.Register(() =>
            {
                if (cancel())
                {
                    Volatile.Write(ref killed, 1);
                }
            });
        T result;
        try
        {
            result = await Task.Run(work, CancellationToken.None).ConfigureAwait(false);
        }
        catch (MariaDbTestException e) when (cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException("The statement was cancelled (KILL QUERY).", e, cancellationToken);
        }

        // Dispose the registration first: it waits for a running callback, so `killed` is final afterwards.
        registration.Dispose();
        if (Volatile.Read(ref killed) == 1)
        {
            if (result is IDisposable disposable)
            {
                disposable.Dispose();
            }

            throw new OperationCanceledException("The statement was cancelled (KILL QUERY).", cancellationToken);
        }

        return result;
    }
}
