#!/usr/bin/perl
# SpamAssassin score of every message named on the command line (.eml files), offline: the rules of
# the installed SpamAssassin (Debian's package, or what sa-update put in place), no network test
# (DNS blocklists, Razor, Pyzor), no Bayes, no reputation, so the same message always scores the same.
# The rules are loaded once for all the files. One line per file on stdout:
#   SCORE<TAB>FILE<TAB>RULE=POINTS,RULE=POINTS,...
use strict;
use warnings;
use File::Temp qw(tempdir);
use Mail::SpamAssassin;

my $home = tempdir(CLEANUP => 1);
my $sa = Mail::SpamAssassin->new({
    local_tests_only     => 1,
    dont_copy_prefs      => 1,
    userprefs_filename   => "$home/user_prefs",
    home_dir_for_helpers => $home,
    post_config_text     => "use_bayes 0\nbayes_auto_learn 0\nuse_txrep 0\nuse_auto_whitelist 0\n",
});
$sa->compile_now(0);

for my $file (@ARGV) {
    open(my $fh, '<', $file) or die "$file: $!\n";
    my $text = do { local $/; <$fh> };
    close($fh);
    my $mail = $sa->parse($text);
    my $status = $sa->check($mail);
    my $scores = $status->get_tag('TESTSSCORES', ',');
    printf "%.3f\t%s\t%s\n", $status->get_score(), $file, $scores;
    $status->finish();
    $mail->finish();
}
