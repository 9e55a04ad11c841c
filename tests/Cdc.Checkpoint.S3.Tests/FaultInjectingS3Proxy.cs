using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Cdc.Checkpoint.S3.Tests;

/// <summary>What the proxy does with one request.</summary>
public enum ProxyAction
{
    /// <summary>Forward the request to the server and return its answer unchanged.</summary>
    Forward,

    /// <summary>Forward the request (the server carries it out) and answer the client 500: the write happened, the client cannot know.</summary>
    ForwardThenAnswer500,

    /// <summary>Answer 500 without forwarding: the write did not happen, the client cannot know.</summary>
    Answer500WithoutForwarding,
}

/// <summary>
/// An HTTP proxy in front of the real S3 server that answers chosen requests with a 500 — after carrying the request
/// out on the server, or without — so that "a 5xx on a conditional write means the outcome is unknown" is tested
/// deterministically against the real server's conditional-write behaviour. Headers (the Host header the client
/// signed, the conditional headers, the payload hash) and the body are passed on byte for byte.
/// </summary>
public sealed class FaultInjectingS3Proxy : IDisposable
{
    private static readonly HashSet<string> HopByHop = new(StringComparer.OrdinalIgnoreCase)
    {
        "Connection", "Keep-Alive", "Transfer-Encoding", "Expect", "Proxy-Connection", "TE", "Trailer", "Upgrade", "Host",
    };

    private readonly HttpListener _listener = new();
    private readonly HttpClient _upstream;
    private readonly Uri _server;
    private readonly Func<ProxyRequest, ProxyAction> _rule;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private readonly ConcurrentQueue<(ProxyRequest Request, ProxyAction Action)> _log = new();

    /// <summary>Starts a proxy on a free loopback port in front of <paramref name="server"/>.</summary>
    public FaultInjectingS3Proxy(Uri server, Func<ProxyRequest, ProxyAction> rule)
    {
        _server = server;
        _rule = rule;
        _upstream = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false, AutomaticDecompression = DecompressionMethods.None });
        var port = FreePort();
        Endpoint = new Uri($"http://127.0.0.1:{port}/");
        _listener.Prefixes.Add(Endpoint.ToString());
        _listener.Start();
        _loop = Task.Run(AcceptLoopAsync);
    }

    /// <summary>The proxy's address: give it to the client as its service URL.</summary>
    public Uri Endpoint { get; }

    /// <summary>Every request seen, with what was done to it, in order.</summary>
    public IReadOnlyList<(ProxyRequest Request, ProxyAction Action)> Log => [.. _log];

    /// <summary>The requests that were answered with an injected 500.</summary>
    public IReadOnlyList<ProxyRequest> Faulted => [.. _log.Where(e => e.Action != ProxyAction.Forward).Select(e => e.Request)];

    /// <inheritdoc />
    public void Dispose()
    {
        _stop.Cancel();
        _listener.Close();
        try
        {
            _loop.GetAwaiter().GetResult();
        }
        catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or OperationCanceledException)
        {
            // Closing the listener ends the accept loop with one of these.
        }

        _upstream.Dispose();
        _stop.Dispose();
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync().ConfigureAwait(false);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }

            _ = Task.Run(() => HandleAsync(context));
        }
    }

    private async Task HandleAsync(HttpListenerContext context)
    {
        var incoming = context.Request;
        using var body = new MemoryStream();
        await incoming.InputStream.CopyToAsync(body).ConfigureAwait(false);
        var request = new ProxyRequest(
            incoming.HttpMethod,
            Uri.UnescapeDataString(incoming.Url!.AbsolutePath),
            incoming.Headers["If-None-Match"],
            incoming.Headers["If-Match"]);
        var action = _rule(request);
        _log.Enqueue((request, action));

        var response = context.Response;
        try
        {
            if (action == ProxyAction.Answer500WithoutForwarding)
            {
                await AnswerInternalErrorAsync(response).ConfigureAwait(false);
                return;
            }

            using var forward = new HttpRequestMessage(new HttpMethod(incoming.HttpMethod), new Uri(_server, incoming.RawUrl));
            forward.Headers.Host = incoming.Headers["Host"];
            if (body.Length > 0 || incoming.HttpMethod is "PUT" or "POST")
            {
                forward.Content = new ByteArrayContent(body.ToArray());
            }

            foreach (var name in incoming.Headers.AllKeys.OfType<string>().Where(n => !HopByHop.Contains(n)))
            {
                var value = incoming.Headers[name]!;
                if (!forward.Headers.TryAddWithoutValidation(name, value))
                {
                    forward.Content?.Headers.TryAddWithoutValidation(name, value);
                }
            }

            using var answer = await _upstream.SendAsync(forward, _stop.Token).ConfigureAwait(false);
            var answerBody = await answer.Content.ReadAsByteArrayAsync(_stop.Token).ConfigureAwait(false);
            if (action == ProxyAction.ForwardThenAnswer500)
            {
                await AnswerInternalErrorAsync(response).ConfigureAwait(false);
                return;
            }

            response.StatusCode = (int)answer.StatusCode;
            foreach (var header in answer.Headers.Concat(answer.Content.Headers).Where(h => !HopByHop.Contains(h.Key) && !h.Key.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)))
            {
                response.Headers[header.Key] = string.Join(",", header.Value);
            }

            response.ContentLength64 = answerBody.Length;
            await response.OutputStream.WriteAsync(answerBody).ConfigureAwait(false);
            response.Close();
        }
        catch (Exception) when (_stop.IsCancellationRequested)
        {
            response.Abort();
        }
    }

    private static async Task AnswerInternalErrorAsync(HttpListenerResponse response)
    {
        var error = """<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>injected by the test proxy</Message></Error>"""u8.ToArray();
        response.StatusCode = 500;
        response.ContentType = "application/xml";
        response.ContentLength64 = error.Length;
        await response.OutputStream.WriteAsync(error).ConfigureAwait(false);
        response.Close();
    }
}

/// <summary>One request as the proxy's rule sees it: method, object path (<c>/bucket/key</c>) and the conditional headers.</summary>
public sealed record ProxyRequest(string Method, string Path, string? IfNoneMatch, string? IfMatch)
{
    /// <summary>Whether this is a conditional PUT (If-None-Match or If-Match).</summary>
    public bool IsConditionalPut => Method == "PUT" && (IfNoneMatch is not null || IfMatch is not null);

    /// <summary>Whether the request addresses <paramref name="key"/>.</summary>
    public bool Targets(string key) => Path.EndsWith("/" + key, StringComparison.Ordinal);
}
