using System.Net;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Polly;
using Polly.Retry;

namespace Cdc.Checkpoint.S3;

/// <summary>An object read from the bucket, with its ETag (unquoted).</summary>
internal sealed record S3Object(byte[] Bytes, string ETag);

/// <summary>
/// The few object operations the store needs, with its error policy: reads are retried with backoff (idempotent);
/// conditional writes are never retried blindly: when their outcome is unknown (a 5xx, a lost response) the object
/// is re-read and the caller decides.
/// </summary>
internal sealed class S3Objects
{
    private readonly IAmazonS3 _client;
    private readonly S3ManifestStoreOptions _options;
    private readonly ResiliencePipeline _reads;

    public S3Objects(IAmazonS3 client, S3ManifestStoreOptions options, TimeProvider timeProvider)
    {
        _client = client;
        _options = options;
        var builder = new ResiliencePipelineBuilder { TimeProvider = timeProvider };
        if (options.ReadRetryCount > 0)
        {
            builder.AddRetry(new RetryStrategyOptions
            {
                MaxRetryAttempts = options.ReadRetryCount,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = TimeSpan.FromMilliseconds(100),
                ShouldHandle = new PredicateBuilder().Handle<Exception>(IsTransient),
            });
        }

        _reads = builder.Build();
    }

    public string Bucket => _options.BucketName;

    /// <summary>Reads an object, or returns <see langword="null"/> when it does not exist.</summary>
    public async Task<S3Object?> GetAsync(string key, long maxBytes, CancellationToken cancellationToken)
    {
        try
        {
            return await _reads.ExecuteAsync(
                static async (state, ct) =>
                {
                    var (self, key, maxBytes) = state;
                    try
                    {
                        using var response = await self._client.GetObjectAsync(new GetObjectRequest { BucketName = self.Bucket, Key = key }, ct).ConfigureAwait(false);
                        if (response.ContentLength > maxBytes)
                        {
                            throw new CheckpointException(
                                CheckpointErrorCode.RecordTooLarge,
                                $"Object '{key}' in {self._options.Describe()} is {response.ContentLength} bytes, more than the {maxBytes} allowed; it is not a valid checkpoint object.");
                        }

                        using var buffer = new MemoryStream((int)Math.Max(0, response.ContentLength));
                        await response.ResponseStream.CopyToAsync(buffer, ct).ConfigureAwait(false);
                        return new S3Object(buffer.ToArray(), Unquote(response.ETag));
                    }
                    catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.NotFound && ex.ErrorCode != "NoSuchBucket")
                    {
                        return null;
                    }
                },
                (this, key, maxBytes),
                cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is AmazonServiceException or HttpRequestException or IOException)
        {
            throw Translate(ex, "read", key, CheckpointErrorCode.ReadFailed);
        }
    }

    /// <summary>Lists the keys under <paramref name="keyPrefix"/>, in the server's (lexicographic) order.</summary>
    public async Task<List<string>> ListAsync(string keyPrefix, CancellationToken cancellationToken)
    {
        var keys = new List<string>();
        string? token = null;
        do
        {
            ListObjectsV2Response page;
            try
            {
                page = await _reads.ExecuteAsync(
                    static async (state, ct) => await state.Item1._client.ListObjectsV2Async(
                        new ListObjectsV2Request { BucketName = state.Item1.Bucket, Prefix = state.keyPrefix, ContinuationToken = state.token },
                        ct).ConfigureAwait(false),
                    (this, keyPrefix, token),
                    cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is AmazonServiceException or HttpRequestException or IOException)
            {
                throw Translate(ex, "list", keyPrefix, CheckpointErrorCode.ReadFailed);
            }

            foreach (var o in page.S3Objects ?? [])
            {
                keys.Add(o.Key);
            }

            token = page.IsTruncated == true ? page.NextContinuationToken : null;
        }
        while (token is not null);
        return keys;
    }

    /// <summary>
    /// Creates <paramref name="key"/> with <c>If-None-Match: *</c>. Returns <see langword="true"/> when the object now
    /// holds exactly <paramref name="bytes"/> (written by this call, or by an earlier attempt whose response was lost),
    /// <see langword="false"/> when another object was already there (nothing was overwritten).
    /// </summary>
    public async Task<bool> CreateAsync(string key, byte[] bytes, long maxBytes, CancellationToken cancellationToken)
    {
        const int Attempts = 4;
        for (var attempt = 1; ; attempt++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            Exception failure;
            try
            {
                await PutAsync(key, bytes, new PutObjectRequest { IfNoneMatch = "*" }, cancellationToken).ConfigureAwait(false);
                return true;
            }
            catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.PreconditionFailed)
            {
                failure = ex;
            }
            catch (Exception ex) when (IsUnknownOutcome(ex))
            {
                // A 5xx or a lost response: the object may or may not have been written. Re-read and decide.
                failure = ex;
            }
            catch (Exception ex) when (ex is AmazonServiceException or HttpRequestException or IOException)
            {
                throw Translate(ex, "create", key, CheckpointErrorCode.WriteFailed);
            }

            var existing = await GetAsync(key, maxBytes, cancellationToken).ConfigureAwait(false);
            if (existing is not null)
            {
                return existing.Bytes.AsSpan().SequenceEqual(bytes);
            }

            if (attempt == Attempts)
            {
                throw Translate(failure, "create", key, CheckpointErrorCode.WriteFailed);
            }

            // Absent after a 412 (deleted meanwhile) or after a failed attempt: creating again is safe, it is still conditional.
            await Task.Delay(TimeSpan.FromMilliseconds(50 * attempt), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Replaces <paramref name="key"/> only if its ETag is still <paramref name="etag"/> (or creates it only if absent
    /// when <paramref name="etag"/> is <see langword="null"/>). Returns <see langword="true"/> when the write happened,
    /// <see langword="false"/> when the precondition failed or the outcome is unknown: the caller re-reads and decides.
    /// </summary>
    public async Task<bool> TryReplaceAsync(string key, byte[] bytes, string? etag, CancellationToken cancellationToken)
    {
        // Ceph RGW compares If-Match with its unquoted ETag (the quoted form always fails); AWS accepts both.
        var request = etag is null ? new PutObjectRequest { IfNoneMatch = "*" } : new PutObjectRequest { IfMatch = etag };
        try
        {
            await PutAsync(key, bytes, request, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (AmazonS3Exception ex) when (ex.StatusCode is HttpStatusCode.PreconditionFailed or HttpStatusCode.Conflict)
        {
            return false;
        }
        catch (Exception ex) when (IsUnknownOutcome(ex))
        {
            return false;
        }
        catch (Exception ex) when (ex is AmazonServiceException or HttpRequestException or IOException)
        {
            throw Translate(ex, "write", key, CheckpointErrorCode.WriteFailed);
        }
    }

    /// <summary>Deletes an object (deleting a missing one succeeds).</summary>
    public async Task DeleteAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            await _reads.ExecuteAsync(
                static async (state, ct) => await state.Item1._client.DeleteObjectAsync(state.Item1.Bucket, state.key, ct).ConfigureAwait(false),
                (this, key),
                cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is AmazonServiceException or HttpRequestException or IOException)
        {
            throw Translate(ex, "delete", key, CheckpointErrorCode.WriteFailed);
        }
    }

    private async Task PutAsync(string key, byte[] bytes, PutObjectRequest request, CancellationToken cancellationToken)
    {
        request.BucketName = Bucket;
        request.Key = key;
        request.InputStream = new MemoryStream(bytes, writable: false);
        request.AutoCloseStream = true;
        request.ContentType = key.EndsWith(".json", StringComparison.Ordinal) ? "application/json" : "application/octet-stream";
        _ = await _client.PutObjectAsync(request, cancellationToken).ConfigureAwait(false);
    }

    private static string Unquote(string? etag) => (etag ?? string.Empty).Trim('"');

    private static bool IsUnknownOutcome(Exception ex) =>
        ex is HttpRequestException or IOException
        || (ex is AmazonServiceException service && (int)service.StatusCode >= 500);

    private static bool IsTransient(Exception ex) =>
        ex is HttpRequestException or IOException
        || (ex is AmazonServiceException service
            && ((int)service.StatusCode >= 500 || service.StatusCode == HttpStatusCode.TooManyRequests || service.ErrorCode is "SlowDown" or "RequestTimeout"));

    /// <summary>Turns an SDK failure into a typed error naming the bucket, endpoint and key, never a credential.</summary>
    internal CheckpointException Translate(Exception ex, string operation, string key, CheckpointErrorCode fallback)
    {
        var where = _options.Describe();
        if (ex is AmazonServiceException service)
        {
            if (service.StatusCode == HttpStatusCode.Forbidden || service.ErrorCode is "InvalidAccessKeyId" or "SignatureDoesNotMatch" or "AccessDenied")
            {
                return new CheckpointException(
                    CheckpointErrorCode.PermissionDenied,
                    $"The S3 server refused to {operation} '{key}' in bucket '{Bucket}' ({where}): {service.ErrorCode} ({(int)service.StatusCode}). Check the access key and secret (options, or the AWS credential chain) and that they may read and write this bucket.",
                    ex);
            }

            if (service.ErrorCode == "NoSuchBucket")
            {
                return new CheckpointException(
                    CheckpointErrorCode.Misconfigured,
                    $"Bucket '{Bucket}' does not exist on {where}; create it first (the store never creates buckets) or fix S3ManifestStoreOptions.BucketName.",
                    ex);
            }

            return new CheckpointException(
                fallback,
                $"Could not {operation} '{key}' in {where}: {service.ErrorCode} ({(int)service.StatusCode}). The previous checkpoint and pointer are intact; retry later.",
                ex);
        }

        return new CheckpointException(
            fallback,
            $"Could not {operation} '{key}' in {where}: {ex.Message}. Check that the endpoint is reachable; the previous checkpoint and pointer are intact.",
            ex);
    }
}
