"""Running an instance as a service: systemd units for its Asterisk and engine, and a
logrotate rule (`callcore service install|uninstall|show`)."""
