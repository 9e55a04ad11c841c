namespace Cdc.Checkpoint.Internal;

/// <summary>
/// For <c>*Async</c> methods whose work is synchronous (small local files, memory): the outcome goes into the returned
/// task, as an asynchronous implementation would put it, instead of being thrown from the call. A caller that stores
/// the task and awaits it later then sees a <see cref="CheckpointException"/> (or a cancellation) where it awaits,
/// like with any other store. Argument validation stays synchronous, as in .NET's own APIs.
/// </summary>
/// <example>
/// <code>
/// ArgumentNullException.ThrowIfNull(offset);
/// try
/// {
///     cancellationToken.ThrowIfCancellationRequested();
///     return ValueTask.FromResult(Work());
/// }
/// catch (Exception ex)
/// {
///     return SyncWork.Failed&lt;Result&gt;(ex, cancellationToken);
/// }
/// </code>
/// </example>
internal static class SyncWork
{
    /// <summary>A task that ends as <paramref name="exception"/> would have ended the method: canceled when it is the token's cancellation, faulted otherwise.</summary>
    public static ValueTask<T> Failed<T>(Exception exception, CancellationToken cancellationToken) =>
        exception is OperationCanceledException && cancellationToken.IsCancellationRequested
            ? ValueTask.FromCanceled<T>(cancellationToken)
            : ValueTask.FromException<T>(exception);

    /// <inheritdoc cref="Failed{T}(Exception, CancellationToken)"/>
    public static ValueTask Failed(Exception exception, CancellationToken cancellationToken) =>
        exception is OperationCanceledException && cancellationToken.IsCancellationRequested
            ? ValueTask.FromCanceled(cancellationToken)
            : ValueTask.FromException(exception);
}
