package ssh

// batchWrapper runs the Perl program $2 with the interpreter named $1
// ("perl") and the arguments after them, or
// exits 127 with a message when the host has no perl (Debian and Ubuntu
// always have it: perl-base is essential), so the driver falls back to one
// command per op.
const batchWrapper = `LC_ALL=C; export LC_ALL
perl=$1 prog=$2; shift 2
command -v "$perl" >/dev/null 2>&1 || { echo "berth: perl not found on the host" >&2; exit 127; }
exec "$perl" -e "$prog" "$@"`

// batchScript applies a WriteBatch. Standard input is a sequence of
// NUL-terminated fields:
//
//	D path mode owner group       ensure a directory (EnsureDir)
//	W path mode owner group size  then size bytes: stage a file
//	C                             commit the staged files
//	R path                        remove (Remove)
//	E                             end
//
// mode is octal, owner and group may be empty. Output, NUL-terminated, one
// record per op in input order of completion: "index", then "ok" or "err"
// followed by a message (strerror text in the C locale). A staged file is
// written to a temporary file (.berth-tmp-*, host.TempPrefix) in its
// directory, created 0600, given owner then mode; at C one `sync -f` per
// file system makes every staged file durable, then each is renamed over
// its path (and reported), then one more `sync -f` per file system makes
// the renames durable. Temporary files of staged files that failed are
// removed; a kill leaves the others for SweepTemp.
//
// $ARGV[0], when above 0, makes the program SIGKILL itself before its
// N-th rename (tests of a batch cut off half way).
const batchScript = `use strict; use warnings; use Fcntl;
$| = 1; binmode STDIN; binmode STDOUT;
$/ = "\0";
my $crash = $ARGV[0] || 0;
my ($n, @staged, %devs) = (0);
sub field { my $f = <STDIN>; die "berth-batch: input cut short\n" unless defined $f; chomp $f; return $f; }
sub ok { print "$_[0]\0ok\0"; }
sub err { my ($i, $m) = @_; $m =~ s/\0//g; print "$i\0err\0$m\0"; }
sub dirof { my $p = shift; $p =~ s{/[^/]*$}{}; return $p eq '' ? '/' : $p; }
my (%uid, %gid);
sub ids {
  my ($o, $g) = @_; my ($u, $gid) = (-1, -1);
  if ($o ne '') { $u = $uid{$o} //= $o =~ /^\d+$/ ? $o : getpwnam($o); return "invalid user: '$o'" unless defined $u; }
  if ($g ne '') { $gid = $gid{$g} //= $g =~ /^\d+$/ ? $g : getgrnam($g); return "invalid group: '$g'" unless defined $gid; }
  return (undef, $u, $gid);
}
sub mkparents {
  my $d = shift; return undef if -d $d;
  return "$d exists and is not a directory" if -e $d;
  my $p = dirof($d);
  if ($p ne $d) { my $e = mkparents($p); return $e if defined $e; }
  return undef if mkdir($d, 0755) || ($!{EEXIST} && -d $d);
  return "mkdir: $!";
}
sub ensuredir {
  my ($p, $mode, $o, $g) = @_;
  my ($e, $u, $gid) = ids($o, $g); return $e if defined $e;
  return "$p exists and is not a directory" if -l $p || (-e $p && !-d $p);
  my $pe = mkparents(dirof($p)); return $pe if defined $pe;
  mkdir($p, 0700) or $!{EEXIST} or return "mkdir: $!";
  if ($o ne '' || $g ne '') { chown($u, $gid, $p) or return "chown: $!"; }
  chmod(oct($mode), $p) or return "chmod: $!";
  return undef;
}
sub stage {
  my ($p, $mode, $o, $g, $size) = @_;
  my $left = $size; my ($fh, $tmp, $e);
  ($e, my $u, my $gid) = ids($o, $g);
  unless (defined $e) {
    my $dir = dirof($p);
    for (1..100) {
      $tmp = $dir . '/.berth-tmp-' . join('', map { ('a'..'z','A'..'Z',0..9)[rand 62] } 1..10);
      last if sysopen($fh, $tmp, O_WRONLY|O_CREAT|O_EXCL, 0600);
      $e = "create temporary file: $!"; undef $tmp;
      last unless $!{EEXIST};
    }
    undef $e if defined $tmp;
  }
  while ($left > 0) {
    my $got = read(STDIN, my $buf, $left > 65536 ? 65536 : $left);
    die "berth-batch: input cut short\n" unless $got;
    $left -= $got;
    next if defined $e;
    my $off = 0;
    while ($off < $got) {
      my $w = syswrite($fh, $buf, $got - $off, $off);
      unless (defined $w) { $e = "write: $!"; last; }
      $off += $w;
    }
  }
  if (!defined $e && ($o ne '' || $g ne '')) { chown($u, $gid, $fh) or $e = "chown: $!"; }
  if (!defined $e) { chmod(oct($mode), $fh) or $e = "chmod: $!"; }
  if (defined $fh) { close($fh) or $e //= "write: $!"; }
  if (defined $e) { unlink($tmp) if defined $tmp; return $e; }
  my @st = stat($tmp); $devs{$st[0]} //= dirof($p);
  return (undef, $tmp);
}
sub syncfs { return 1 unless %devs; return system('sync', '-f', '--', values %devs) == 0; }
sub commit {
  unless (syncfs()) {
    for my $s (@staged) { unlink($s->[1]); err($s->[0], "sync: flushing the files to disk failed"); }
    @staged = (); return;
  }
  my $k = 0;
  for my $s (@staged) {
    kill('KILL', $$) if ++$k == $crash;
    if (rename($s->[1], $s->[2])) { ok($s->[0]); } else { my $m = "rename into place: $!"; unlink($s->[1]); err($s->[0], $m); }
  }
  @staged = ();
  syncfs();
}
sub remove {
  my $p = shift;
  if (-d $p && !-l $p) { return undef if rmdir($p) || $!{ENOENT}; return "rmdir: $!"; }
  return undef if unlink($p) || $!{ENOENT} || $!{ENOTDIR};
  return "rm: $!";
}
while (1) {
  my $op = field();
  last if $op eq 'E';
  if ($op eq 'C') { commit(); next; }
  my $i = $n++; my $p = field();
  if ($op eq 'D') {
    my $e = ensuredir($p, field(), field(), field());
    defined $e ? err($i, $e) : ok($i);
  } elsif ($op eq 'W') {
    my ($e, $tmp) = stage($p, field(), field(), field(), field());
    if (defined $e) { err($i, $e); } else { push @staged, [$i, $tmp, $p]; }
  } elsif ($op eq 'R') {
    my $e = remove($p);
    defined $e ? err($i, $e) : ok($i);
  } else { die "berth-batch: unknown op '$op'\n"; }
}
exit 0;`

// readFilesScript prints, for each NUL-terminated path on standard input,
// "ok" NUL size NUL contents, or "err" NUL message NUL.
const readFilesScript = `use strict; use warnings;
binmode STDIN; binmode STDOUT;
$/ = "\0";
while (defined(my $p = <STDIN>)) {
  chomp $p;
  my $fh;
  unless (open($fh, '<:raw', $p)) { print "err\0$!\0"; next; }
  if (-d $fh) { print "err\0Is a directory\0"; close $fh; next; }
  my $d = do { local $/; <$fh> };
  if (!defined $d) { print "err\0$!\0"; } else { print "ok\0", length($d), "\0", $d; }
  close $fh;
}
exit 0;`
