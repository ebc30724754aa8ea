"""asyncweb under the web servers people run it behind: Apache httpd
(mod_cgid, mod_cgi with prefork, mod_proxy_fcgi) and Caddy (its FastCGI
transport), each started on 127.0.0.1 with a config of its own in a run
folder and stopped by its pid. Every host serves examples/cgi_app.py, and
`cases.HostCases` asks each the same questions."""
