"""The guard: SIP password guessers and account scanners banned by source address, from
Asterisk's security events, through a PJSIP ACL; bans audited, listed and lifted."""
